import { randomBytes } from 'node:crypto';
import type { ServiceIo } from '../../src/runtime/config/service-io.js';
import { openEventBus } from '../../src/events/index.js';
import { evaluatorMetrics, startMetricsServer, type MetricsServer } from '../../src/runtime/metrics/index.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { onStopSignal } from '../../src/runtime/stop-signals.js';
import type { ServiceEnd } from '../../src/runtime/stopped-exit.js';
import { routeGrpcLogs } from '../../src/rpc/grpc-logging.js';
import { clientChannelFrom, explainTokenRefusal, INSECURE, type GrpcSecurity } from '../../src/rpc/security/index.js';
import { createParameterSource } from './client/parameter-source.js';
import { runEvaluator, type EvaluatorOptions } from './evaluator-run.js';
import { startLivenessBeat, type LivenessBeat } from './liveness-beat.js';

export interface EvaluatorServiceOptions extends Omit<EvaluatorOptions, 'run'> {
  coordinator: string;
  /** null: the latest run on the bus. */
  run: string | null;
  /** Deadlines of a short call and of one parameter download. */
  callTimeoutMs: number;
  transferTimeoutMs: number;
  /** NATS ack wait of a checkpoint event (renewed while it is scored). */
  ackWaitMs: number;
  io: ServiceIo;
  /** TLS (a client certificate for mutual TLS) and the token for the coordinator's gRPC; default none. */
  security?: GrpcSecurity;
}

/**
 * `fleet evaluator`: score a run's checkpoints until it finishes ('finished'); SIGTERM stops after
 * the evaluation in progress ('stopped', unless the run had finished).
 */
export async function runEvaluatorService(options: EvaluatorServiceOptions, rootLog: Logger): Promise<ServiceEnd> {
  routeGrpcLogs(rootLog);
  if (!options.io.natsUrl) throw new FleetError('the evaluator follows checkpoint events on NATS: give --nats URL (or NATS_URL)');
  // Before the bus: a bad TLS file fails here with nothing to close.
  const channel = await clientChannelFrom(options.security ?? INSECURE);
  // A short ack wait (renewed while an evaluation runs): after a crash the
  // restarted evaluator gets the interrupted checkpoint back within seconds,
  // before the coordinator stops keeping that version.
  const bus = await openEventBus({
    natsUrl: options.io.natsUrl,
    auth: options.io.natsAuth,
    name: 'evaluator',
    log: rootLog,
    ackWaitMs: options.ackWaitMs,
  });
  const source = createParameterSource(options.coordinator, {
    callTimeoutMs: options.callTimeoutMs,
    transferTimeoutMs: options.transferTimeoutMs,
    channel,
  });
  let metricsServer: MetricsServer | null = null;
  let beat: LivenessBeat | null = null;
  const stop = new AbortController();
  const stopListening = onStopSignal((signal) => {
    rootLog.warn({ signal }, 'stopping after the evaluation in progress');
    stop.abort();
  });
  try {
    const run = options.run ?? (await bus.latestRun());
    if (!run) throw new FleetError('no run on the bus yet: give --run ID, or start the coordinator first');
    // The root logger names the run when it was given; one found on the bus is added here.
    const log = options.run ? rootLog : rootLog.child({ run });
    const metrics = evaluatorMetrics({ run });
    if (options.io.metricsPort !== null) {
      metricsServer = await startMetricsServer(metrics.registry, { host: options.io.metricsHost, port: options.io.metricsPort });
      log.info({ url: metricsServer.url }, 'metrics');
    }
    const instance = `evaluator:${randomBytes(3).toString('hex')}`;
    // From here on a coordinator waiting for this run's last score knows an evaluator is alive.
    beat = await startLivenessBeat({ natsUrl: options.io.natsUrl, auth: options.io.natsAuth, run, source: instance }, log);
    const events = bus.publisher(run, instance);
    metrics.eventsPending.track(events);
    const outcome = await runEvaluator({ ...options, run }, { bus, events, source, metrics }, log, stop.signal);
    log.info({ outcome }, 'evaluator done');
    return outcome;
  } catch (err) {
    throw explainTokenRefusal(err, options.coordinator);
  } finally {
    stopListening();
    await beat?.stop();
    await metricsServer?.close();
    source.close();
    await bus.close();
  }
}
