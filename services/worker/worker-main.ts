import { hostname } from 'node:os';
import type { BackendChoice } from '../../src/runtime/config/train-config.js';
import type { Logger } from '../../src/runtime/logger.js';
import { onStopSignal } from '../../src/runtime/stop-signals.js';
import type { ServiceEnd } from '../../src/runtime/stopped-exit.js';
import type { WeightSlice } from '../../src/training/flat-weights.js';
import { createCoordinatorClient } from './client/grpc-coordinator-client.js';
import { isRunFull, runWorker, type RoundReport } from './worker-run.js';
import { startHeartbeatThread } from './heartbeat/heartbeat-thread.js';
import { startMetricsServer, workerMetrics, type MetricsServer, type WorkerMetrics } from '../../src/runtime/metrics/index.js';
import { routeGrpcLogs } from '../../src/rpc/grpc-logging.js';
import { isUnavailable } from '../../src/rpc/classify.js';
import { clientChannelFrom, describeGrpcSecurity, INSECURE, type GrpcSecurity } from '../../src/rpc/security/index.js';
import { explainWorkerFailure } from './client/connection-errors.js';

export interface WorkerServiceOptions {
  coordinator: string;
  name: string | null;
  runId: string;
  dataDir: string | null;
  backend: BackendChoice | null;
  threads: number | null;
  connectTimeoutMs: number;
  /** Deadlines of a short call, of one wait for a round, of one parameter or contribution transfer. */
  callTimeoutMs: number;
  roundWaitTimeoutMs: number;
  transferTimeoutMs: number;
  /** Prometheus endpoint (0: any free port); null: none. Served from the first round on (its labels name the run). */
  metrics: { port: number; host: string } | null;
  /** TLS (a client certificate for mutual TLS) and the token sent on every call; default none. */
  security?: GrpcSecurity;
}

/**
 * `fleet worker`: train for a coordinator until the run is over ('finished'); SIGTERM finishes
 * the round, then leaves ('stopped').
 */
export async function runWorkerService(options: WorkerServiceOptions, log: Logger): Promise<ServiceEnd> {
  routeGrpcLogs(log);
  let layout: readonly WeightSlice[] = [];
  const security = options.security ?? INSECURE;
  log.info(
    { coordinator: options.coordinator, connectTimeoutMs: options.connectTimeoutMs, security: describeGrpcSecurity(security, 'client') },
    'connecting',
  );
  const client = createCoordinatorClient(options.coordinator, () => layout, {
    callTimeoutMs: options.callTimeoutMs,
    roundWaitTimeoutMs: options.roundWaitTimeoutMs,
    transferTimeoutMs: options.transferTimeoutMs,
    channel: await clientChannelFrom(security),
  });
  const stop = new AbortController();
  const stopListening = onStopSignal((signal) => {
    log.warn({ signal }, 'stopping after this round');
    stop.abort();
  });
  const name = options.name ?? `${hostname()}-${process.pid}`;
  let metrics: WorkerMetrics | null = null;
  let metricsServer: Promise<MetricsServer> | null = null;
  /** When the previous round's report came (performance.now()): the wall time between two is split into phases. */
  let lastReportAt: number | null = null;
  const onRound = (r: RoundReport) => {
    if (!options.metrics) return;
    if (!metrics) {
      const m = workerMetrics({ run: r.run, worker: name });
      metrics = m;
      metricsServer = startMetricsServer(m.registry, options.metrics);
      metricsServer.then(
        (s) => log.info({ url: s.url }, 'metrics'),
        (err: unknown) => log.error({ err }, 'metrics endpoint failed'),
      );
    }
    metrics.rounds.inc();
    metrics.imagesPerSecond.set(r.trainMs > 0 ? (r.samples * 1000) / r.trainMs : 0);
    metrics.trainSeconds.observe(r.trainMs / 1000);
    metrics.loss.set(r.loss);
    if (r.downloadMs > 0) {
      metrics.exchangeSeconds.observe({ direction: 'download' }, r.downloadMs / 1000);
      metrics.exchangeBytes.inc({ direction: 'in' }, r.downloadBytes);
    }
    metrics.exchangeSeconds.observe({ direction: 'upload' }, r.uploadMs / 1000);
    metrics.exchangeBytes.inc({ direction: 'out' }, r.bytes);
    // Wait: the rest of the wall time since the last report (the round opening, the others); none before the first
    // round (that was loading data). Clamped: a prefetched batch trains during the download, so phases can overlap.
    const now = performance.now();
    const worked = r.downloadMs + r.trainMs + r.uploadMs;
    const waitMs = lastReportAt === null ? 0 : Math.max(0, now - lastReportAt - worked);
    lastReportAt = now;
    metrics.phaseSeconds.inc({ phase: 'download' }, r.downloadMs / 1000);
    metrics.phaseSeconds.inc({ phase: 'train' }, r.trainMs / 1000);
    metrics.phaseSeconds.inc({ phase: 'upload' }, r.uploadMs / 1000);
    metrics.phaseSeconds.inc({ phase: 'wait' }, waitMs / 1000);
    metrics.lastRoundTimestamp.set(Date.now() / 1000);
  };
  try {
    const { end } = await runWorker(
      client,
      {
        name,
        runId: options.runId,
        dataDir: options.dataDir,
        backend: options.backend,
        threads: options.threads,
        reconnectTimeoutMs: options.connectTimeoutMs,
        coordinator: options.coordinator,
        onLayout: (l) => {
          layout = l;
        },
        onRound,
        heartbeats: (workerId, intervalMs) =>
          startHeartbeatThread(
            { coordinator: options.coordinator, security, workerId, intervalMs, callTimeoutMs: options.callTimeoutMs },
            {
              onError: (err) =>
                log.error({ err: err.message }, 'the heartbeat thread failed: heartbeats from the main thread, delayed by steps'),
              onFailedBeat: (message) => log.debug({ err: message }, 'heartbeat failed'),
              beatHere: (id, round) => client.heartbeat(id, round),
            },
          ),
      },
      log,
      stop.signal,
    );
    return end;
  } catch (err) {
    // Stopped while the coordinator was away, or while waiting for a place in a full run (--workers MAX): nothing
    // was lost (a round in hand is trained again), not a failure.
    if (stop.signal.aborted && (isUnavailable(err) || isRunFull(err))) {
      log.info({ outcome: 'stopped', err: (err as Error).message }, 'worker done');
      return 'stopped';
    }
    throw explainWorkerFailure(err, options);
  } finally {
    await (metricsServer as Promise<MetricsServer> | null)?.then(
      (s) => s.close(),
      () => {},
    );
    stopListening();
    client.close();
  }
}
