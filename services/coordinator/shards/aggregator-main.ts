import type { Logger } from '../../../src/runtime/logger.js';
import { onStopSignal } from '../../../src/runtime/stop-signals.js';
import { routeGrpcLogs } from '../../../src/rpc/grpc-logging.js';
import { describeGrpcSecurity, INSECURE, type GrpcSecurity } from '../../../src/rpc/security/index.js';
import { listenError } from '../coordinator-main.js';
import { startAggregatorServer } from './aggregator-server.js';
import { joinCoordinator } from './join-coordinator.js';

export interface AggregatorServiceOptions {
  host: string;
  port: number;
  security?: GrpcSecurity;
  contributionIdleMs: number;
  shutdownGraceMs: number;
  /** Join this coordinator (--shards K --aggregators join), saying `advertise`:port is where to reach this aggregator. */
  join?: { coordinator: string; advertise: string; timeoutMs: number };
}

/**
 * `fleet aggregator`: serves one slice of a sharded run (--shards) until its
 * coordinator says the run is over ('finished') or a stop signal ('stopped').
 * The 'listening' line carries the real port (--port 0).
 */
export async function runAggregatorService(options: AggregatorServiceOptions, log: Logger): Promise<'finished' | 'stopped'> {
  routeGrpcLogs(log);
  const security = options.security ?? INSECURE;
  const server = await startAggregatorServer({
    host: options.host,
    port: options.port,
    log,
    security,
    contributionIdleMs: options.contributionIdleMs,
  }).catch((err: unknown) => {
    throw listenError(err, options.host, options.port);
  });
  log.info({ host: options.host, port: server.port, security: describeGrpcSecurity(security, 'server') }, 'listening');
  let stopListening = () => {};
  const stop = new AbortController();
  const stopped = new Promise<'stopped'>((resolve) => {
    stopListening = onStopSignal(() => {
      stop.abort();
      resolve('stopped');
    });
    if (process.env.FLEET_EXIT_WITH_PARENT === '1') {
      // Started by a coordinator (--shards K without --aggregators): its end, even a SIGKILL, closes this pipe.
      process.stdin.on('close', () => {
        stop.abort();
        resolve('stopped');
      });
      process.stdin.resume();
    }
  });
  try {
    if (options.join) {
      const address = `${options.join.advertise}:${server.port}`;
      const shard = await joinCoordinator(options.join.coordinator, address, security, options.join.timeoutMs, log, stop.signal);
      log.info({ coordinator: options.join.coordinator, address, shard }, 'joined the coordinator');
    }
    const end = await Promise.race([server.finished.then(() => 'finished' as const), stopped]);
    log.info({ end }, end === 'finished' ? 'run over: aggregator done' : 'aggregator stopped');
    return end;
  } finally {
    stopListening();
    await server.shutdown(options.shutdownGraceMs);
  }
}
