import { randomBytes } from 'node:crypto';
import type { ServiceIo } from '../../src/runtime/config/service-io.js';
import { openEventBus, type EventBus } from '../../src/events/index.js';
import { coordinatorMetrics, startMetricsServer, type MetricsServer } from '../../src/runtime/metrics/index.js';
import type { Logger } from '../../src/runtime/logger.js';
import { onStopSignal, type StopSignal } from '../../src/runtime/stop-signals.js';
import type { ServiceEnd } from '../../src/runtime/stopped-exit.js';
import { createCoordinator, type CoordinatorOptions } from './coordinator-run.js';
import { bindCoordinatorServer } from './rpc/coordinator-server.js';
import { clearRunFiles } from '../../src/runtime/out-dir.js';
import { FlagError } from '../../src/runtime/config/flag-error.js';
import { FleetError } from '../../src/runtime/errors.js';
import { routeGrpcLogs } from '../../src/rpc/grpc-logging.js';
import { describeGrpcSecurity, INSECURE, type GrpcSecurity } from '../../src/rpc/security/index.js';
import { ExchangeCounter, RunReporter } from './telemetry/run-reporter.js';
import { waitForEvaluation, type EvaluationWait } from './telemetry/wait-for-evaluation.js';
import { watchEvaluatorLiveness, type EvaluatorLiveness } from './telemetry/evaluator-liveness.js';
import { sleepUnless } from '../../src/events/sleep.js';
import { stopGracefully } from './graceful-stop.js';
import { AggregatorJoins } from './shards/aggregator-joins.js';

export interface CoordinatorServiceOptions extends Omit<CoordinatorOptions, 'reporter'> {
  host: string;
  port: number;
  heartbeatIntervalMs: number;
  /** After the run, keep answering so every worker hears it is over. */
  lingerMs: number;
  shutdownGraceMs: number;
  /**
   * On SIGTERM/SIGINT, how long the round in hand gets to close before it is
   * abandoned; then a checkpoint, run.finished 'stopped', and the service ends 'stopped'. With
   * shutdownGraceMs it must fit the pod's terminationGracePeriodSeconds.
   */
  drainTimeoutMs: number;
  /** With an external evaluator: how long to wait at the end for its score of the last checkpoint. */
  evaluatorWaitMs: number;
  /**
   * With an external evaluator: the wait ends once no evaluator liveness beat was heard for this long, and the
   * coordinator scores the last checkpoint itself; 0: no watch, the wait is --evaluator-wait whatever happened.
   */
  evaluatorHeartbeatTimeoutMs: number;
  io: ServiceIo;
  /** TLS / mutual TLS and the token for the gRPC server; default none. */
  security?: GrpcSecurity;
  /** --overwrite: fleet's files of an earlier run in --out are removed once the port is bound (checkOutDir ran before). */
  overwrite?: boolean;
}

/**
 * `fleet coordinator`: serve the run until it is finished ('finished') or fails (throws).
 * SIGTERM/SIGINT stop it gracefully ('stopped', unless the run finished meanwhile): the
 * round in hand closes or is abandoned within drainTimeoutMs, a checkpoint is written,
 * run.finished says 'stopped', and the server closes within shutdownGraceMs; a
 * coordinator started with --resume continues the run. A stop after the run finished
 * (during the evaluator wait or --linger) is still 'finished'.
 */
export async function runCoordinatorService(options: CoordinatorServiceOptions, log: Logger): Promise<ServiceEnd> {
  routeGrpcLogs(log);
  const run = options.config.runId;
  const bus = await openEventBus({ natsUrl: options.io.natsUrl, auth: options.io.natsAuth, name: `coordinator:${run}`, log });
  const metrics = coordinatorMetrics({ run });
  let metricsServer: MetricsServer | null = null;
  const exchange = new ExchangeCounter();
  const reporter = new RunReporter(run, bus.publisher(run, `coordinator:${randomBytes(3).toString('hex')}`), metrics, exchange, log);
  let liveness: EvaluatorLiveness | null = null;
  try {
    // From the start: an evaluator that dies during training is known silent when the wait begins.
    // A wait no longer than the heartbeat timeout is bounded as tightly already: no watch is needed.
    const watch = options.evaluatorHeartbeatTimeoutMs > 0 && options.evaluatorWaitMs > options.evaluatorHeartbeatTimeoutMs;
    if (options.externalEvaluator && options.io.natsUrl && watch) {
      liveness = await watchEvaluatorLiveness({ natsUrl: options.io.natsUrl, auth: options.io.natsAuth, run }, log);
    }
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
    return await serve(options, log, bus, reporter, exchange, liveness);
  } finally {
    await liveness?.stop();
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
  liveness: EvaluatorLiveness | null,
): Promise<ServiceEnd> {
  // Bound first: a port in use or a bad host fails before the data is loaded and the run directory written.
  const server = await bindCoordinatorServer({
    host: options.host,
    port: options.port,
    log,
    security: options.security ?? INSECURE,
    onUnauthenticated: (call) => reporter.callUnauthenticated(call.method),
    ...(options.shards?.aggregators instanceof AggregatorJoins ? { joins: options.shards.aggregators } : {}),
  }).catch((err: unknown) => {
    throw listenError(err, options.host, options.port);
  });
  if (options.shards?.aggregators instanceof AggregatorJoins) {
    // Aggregators started elsewhere need this port (--port 0: this line says it; 'listening' comes once they joined).
    log.info({ host: options.host, port: server.port, expected: options.shards.aggregators.expected }, 'aggregators may join');
  }
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
    {
      config: options.config,
      layout: coordinator.layout,
      log,
      exchange,
      vectors: coordinator.vectors,
      shards: coordinator.shardMap,
      ...(coordinator.shardZero ? { shardZero: coordinator.shardZero } : {}),
      ...(coordinator.isWhole ? { isWhole: coordinator.isWhole } : {}),
    },
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
  const stop = new AbortController();
  let stopSignal: StopSignal | null = null;
  const stopListening = onStopSignal((signal) => {
    stopSignal = signal;
    stop.abort();
  });
  const version = () => coordinator.controller.currentVersion;
  /** Stopped before the run's end (a restart resumes it): the aggregators stay up for it. */
  let runStopped = false;
  try {
    const first = await Promise.race([coordinator.controller.finished.then(() => 'finished' as const), aborted(stop.signal)]);
    const status =
      first === 'finished' ? 'finished' : await stopGracefully(coordinator, `signal ${stopSignal}`, options.drainTimeoutMs, log);
    if (status === 'stopped') {
      runStopped = true;
      reporter.finished({ status: 'stopped', version: version(), epochs: options.config.epochs, reason: `signal ${stopSignal}` });
      log.info({ runDir: coordinator.runDir, version: version() }, 'run stopped: a coordinator started with --resume auto continues it');
      return 'stopped';
    }
    log.info({ runDir: coordinator.runDir }, 'run finished');
    if (options.externalEvaluator) {
      // The last checkpoint must be fetched from us: stay until it is scored (a stop cuts the wait to the drain timeout),
      // unless no evaluator is alive to score it: then it is scored here, with the test set this coordinator loaded.
      const how: EvaluationWait =
        bus.kind === 'memory'
          ? 'evaluator-silent'
          : await waitForEvaluation(bus, options.config.runId, version(), options.evaluatorWaitMs, log, {
              stop: { signal: stop.signal, graceMs: options.drainTimeoutMs },
              ...(liveness ? { liveness: { watch: liveness, timeoutMs: options.evaluatorHeartbeatTimeoutMs } } : {}),
            });
      if (how === 'evaluator-silent' && !stop.signal.aborted) await scoreHere(coordinator, version(), log);
    }
    reporter.finished({ status: 'finished', version: version(), epochs: options.config.epochs, reason: null });
    // Answering 'finished' to late workers; a stop signal ends it.
    await sleepUnless(stop.signal, options.lingerMs);
    return 'finished';
  } catch (err) {
    reporter.finished({ status: 'failed', version: version(), epochs: options.config.epochs, reason: (err as Error).message });
    throw err;
  } finally {
    stopListening();
    // The aggregators (--shards) exit with the run; after a stop they stay up, and a restarted coordinator
    // (--resume) loads them again from its checkpoint (the ones it started itself end with it).
    if (!runStopped) await coordinator.finishShards('run over');
    await server.shutdown(options.shutdownGraceMs);
    coordinator.close();
  }
}

/** Resolves 'stop' once `signal` aborts (never otherwise). */
function aborted(signal: AbortSignal): Promise<'stop'> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve('stop');
    else signal.addEventListener('abort', () => resolve('stop'), { once: true });
  });
}

/** No evaluator to score the last checkpoint: this coordinator scores it (its metrics line, best/ if better, the eval event). */
async function scoreHere(
  coordinator: { scoreLastEpoch: () => Promise<{ version: number; epoch: number } | null> },
  version: number,
  log: Logger,
) {
  log.info({ version }, 'scoring the last checkpoint here (no evaluator alive to)');
  const scored = await coordinator.scoreLastEpoch();
  if (scored) log.info({ version: scored.version, epoch: scored.epoch }, 'the last checkpoint scored by the coordinator');
  else log.warn({ version }, 'the last checkpoint is not an epoch end this coordinator reached: not scored');
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
