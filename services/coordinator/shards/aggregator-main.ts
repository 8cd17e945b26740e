import type { Logger } from '../../../src/runtime/logger.js';
import { onStopSignal } from '../../../src/runtime/stop-signals.js';
import { routeGrpcLogs } from '../../../src/rpc/grpc-logging.js';
import { describeGrpcSecurity, INSECURE, type GrpcSecurity } from '../../../src/rpc/security/index.js';
import { listenError } from '../coordinator-main.js';
import { startAggregatorServer } from './aggregator-server.js';

export interface AggregatorServiceOptions {
  host: string;
  port: number;
  security?: GrpcSecurity;
  contributionIdleMs: number;
  shutdownGraceMs: number;
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
  const stopped = new Promise<'stopped'>((resolve) => {
    stopListening = onStopSignal(() => resolve('stopped'));
  });
  try {
    const end = await Promise.race([server.finished.then(() => 'finished' as const), stopped]);
    log.info({ end }, end === 'finished' ? 'run over: aggregator done' : 'aggregator stopped');
    return end;
  } finally {
    stopListening();
    await server.shutdown(options.shutdownGraceMs);
  }
}
