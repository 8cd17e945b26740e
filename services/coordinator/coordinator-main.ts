import { randomBytes } from 'node:crypto';
import type { ServiceIo } from '../../src/runtime/config/service-io.js';
import { openEventBus, type EventBus } from '../../src/events/index.js';
import { coordinatorMetrics, startMetricsServer, type MetricsServer } from '../../src/runtime/metrics/index.js';
import type { Logger } from '../../src/runtime/logger.js';
import { onStopSignal } from '../../src/runtime/stop-signals.js';
import { createCoordinator, type CoordinatorOptions } from './coordinator-run.js';
import { bindCoordinatorServer } from './rpc/coordinator-server.js';
import { clearRunFiles } from '../../src/runtime/out-dir.js';
import { FlagError } from '../../src/runtime/config/flag-error.js';
import { FleetError } from '../../src/runtime/errors.js';
import { routeGrpcLogs } from '../../src/rpc/grpc-logging.js';
import { describeGrpcSecurity, INSECURE, type GrpcSecurity } from '../../src/rpc/security/index.js';
import { ExchangeCounter, RunReporter } from './telemetry/run-reporter.js';
import { waitForEvaluation } from './telemetry/wait-for-evaluation.js';

export interface CoordinatorServiceOptions extends Omit<CoordinatorOptions, 'reporter'> {
  host: string;
  port: number;
  heartbeatIntervalMs: number;
  /** After the run, keep answering so every worker hears it is over. */
  lingerMs: number;
  shutdownGraceMs: number;
  /** With an external evaluator: how long to wait at the end for its score of the last checkpoint. */
  evaluatorWaitMs: number;
  io: ServiceIo;
  /** TLS / mutual TLS and the token for the gRPC server; default none. */
  security?: GrpcSecurity;
  /** --overwrite: fleet's files of an earlier run in --out are removed once the port is bound (checkOutDir ran before). */
  overwrite?: boolean;
}

/**
 * `fleet coordinator`: serve the run until it is finished (exit 0) or fails.
 * SIGTERM/SIGINT close the rounds and the server within shutdownGraceMs.
 */
export async function runCoordinatorService(options: CoordinatorServiceOptions, log: Logger): Promise<void> {
  routeGrpcLogs(log);
  const run = options.config.runId;
  const bus = await openEventBus({ natsUrl: options.io.natsUrl, auth: options.io.natsAuth, name: `coordinator:${run}`, log });
  const metrics = coordinatorMetrics({ run });
  let metricsServer: MetricsServer | null = null;
  const exchange = new ExchangeCounter();
  const reporter = new RunReporter(run, bus.publisher(run, `coordinator:${randomBytes(3).toString('hex')}`), metrics, exchange, log);
  try {
    if (options.io.metricsPort !== null) {
      const { metricsHost: host, metricsPort: port } = options.io;
      metricsServer = await startMetricsServer(metrics.registry, { host, port }).catch((err: unknown) => {
        throw (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
          ? new FlagError('--metrics-port', port, `--metrics-port ${port}: address in use on ${host}; choose another --metrics-port or 0`, {
              cause: err,
            })
          : err;
      });
      log.info({ url: metricsServer.url }, 'metrics');
    }
    await serve(options, log, bus, reporter, exchange);
  } finally {
    await metricsServer?.close();
    await bus.close();
  }
}

async function serve(
  options: CoordinatorServiceOptions,
  log: Logger,
  bus: EventBus,
  reporter: RunReporter,
  exchange: ExchangeCounter,
): Promise<void> {
  // Bound first: a port in use or a bad host fails before the data is loaded and the run directory written.
  const server = await bindCoordinatorServer({
    host: options.host,
    port: options.port,
    log,
    security: options.security ?? INSECURE,
    onUnauthenticated: (call) => reporter.callUnauthenticated(call.method),
  }).catch((err: unknown) => {
    throw listenError(err, options.host, options.port);
  });
  let coordinator: Awaited<ReturnType<typeof createCoordinator>>;
  try {
    if (options.overwrite) {
      const removed = await clearRunFiles(options.config.outDir);
      if (removed.length > 0) log.warn({ out: options.config.outDir, removed }, '--overwrite: the earlier run in --out removed');
    }
    coordinator = await createCoordinator({ ...options, reporter }, log);
  } catch (err) {
    await server.shutdown(0);
    throw err;
  }
  server.serve(
    coordinator.controller,
    { config: options.config, layout: coordinator.layout, log, exchange, vectors: coordinator.vectors },
    {
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      onContributionRefused: (errorClass) => reporter.contributionRefused(errorClass),
    },
  );
  // The launcher and tests read this line for the real port.
  log.info(
    {
      host: options.host,
      port: server.port,
      workers: options.config.workers,
      runDir: coordinator.runDir,
      security: describeGrpcSecurity(options.security ?? INSECURE, 'server'),
    },
    'listening',
  );
  if (options.security?.token != null && options.security.tls === null) {
    log.warn('the token travels in clear text without TLS: use --tls-cert/--tls-key outside a trusted network');
  }
  const stopListening = onStopSignal((signal) => {
    log.warn({ signal }, 'stopping');
    coordinator.controller.close(`signal ${signal}`);
  });
  const version = () => coordinator.controller.currentVersion;
  try {
    await coordinator.controller.finished;
    log.info({ runDir: coordinator.runDir }, 'run finished');
    if (options.externalEvaluator) {
      // The last checkpoint must be fetched from us: stay until it is scored.
      await waitForEvaluation(bus, options.config.runId, version(), options.evaluatorWaitMs, log);
    }
    reporter.finished({ status: 'finished', version: version(), epochs: options.config.epochs, reason: null });
    await new Promise((resolve) => setTimeout(resolve, options.lingerMs));
  } catch (err) {
    reporter.finished({ status: 'failed', version: version(), epochs: options.config.epochs, reason: (err as Error).message });
    throw err;
  } finally {
    stopListening();
    await server.shutdown(options.shutdownGraceMs);
    coordinator.close();
  }
}

/** grpc-js's bind errors (their text is all there is) as what the user should change. */
export function listenError(err: unknown, host: string, port: number): Error {
  if (err instanceof FleetError || !(err instanceof Error)) return err as Error;
  const text = err.message;
  if (/EADDRINUSE/.test(text)) {
    return new FlagError('--port', port, `--port ${port}: address in use on ${host} (another coordinator?); choose another --port or 0`, {
      cause: err,
    });
  }
  if (/EACCES/.test(text)) {
    return new FlagError(
      '--port',
      port,
      `--port ${port}: permission denied on ${host} (ports below 1024 need privileges); choose another --port`,
      {
        cause: err,
      },
    );
  }
  if (/EADDRNOTAVAIL/.test(text)) {
    return new FlagError(
      '--host',
      host,
      `--host ${host}: not an address of this machine; use 0.0.0.0 (every interface), 127.0.0.1, or one of this machine's addresses`,
      { cause: err },
    );
  }
  if (/Name resolution failed|ENOTFOUND|EAI_AGAIN|Failed to parse/.test(text)) {
    return new FlagError('--host', host, `--host ${host}: cannot be resolved to an address of this machine; use 0.0.0.0 or 127.0.0.1`, {
      cause: err,
    });
  }
  return new FleetError(`cannot listen on ${host}:${port}: ${text}`, { cause: err });
}
