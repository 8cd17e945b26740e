import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per service instance, never prom-client's global one: several
 * services (or tests) in one process would otherwise share, and clash on,
 * the same series. `run`, `worker` and `service` are default labels of the
 * registry, so every series (process metrics included) carries them without
 * each call site passing them.
 *
 * Label values in use: direction of `fleet_exchange_bytes_total` is `in` |
 * `out` as seen by the service that counts (a worker's download is `in`);
 * direction of `fleet_worker_exchange_seconds` is `download` | `upload`;
 * phase of `fleet_worker_phase_seconds_total` is one of WORKER_PHASES; kind
 * of `fleet_checkpoint_version` is `epoch_end` | `periodic`.
 */

export type ServiceName = 'coordinator' | 'worker' | 'evaluator';

/** Round and training durations: from a 50 ms gradient step to a 10 min local-SGD round. */
const ROUND_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** One tensor-set transfer: milliseconds on loopback, up to a minute for ResNet-18 on a slow link. */
const EXCHANGE_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** A pass over the 10 000 test images: about a second natively, minutes on plain JavaScript. */
const EVALUATION_BUCKETS_S = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Where a worker's round time goes; `wait` is the rest of the wall time between two rounds' ends. */
export const WORKER_PHASES = ['download', 'train', 'upload', 'wait'] as const;
export type WorkerPhase = (typeof WORKER_PHASES)[number];

/** What a publisher has queued and not yet had stored by the server (the events outbox); `pending` absent: nothing ever waits. */
export interface EventBacklogSource {
  readonly pending?: number;
}

/**
 * `fleet_events_pending`, read at each scrape from the publisher given to
 * `track` (0 until one is): the outbox's backlog is the publisher's state,
 * not something to copy on every publish.
 */
export interface EventBacklogGauge {
  track(source: EventBacklogSource): void;
}

function eventBacklogGauge(registers: Registry[]): EventBacklogGauge {
  let source: EventBacklogSource | null = null;
  new Gauge({
    name: 'fleet_events_pending',
    help: 'Events queued for NATS JetStream and not yet acknowledged as stored (the outbox backlog).',
    registers,
    collect() {
      this.set(source?.pending ?? 0);
    },
  });
  return {
    track(s) {
      source = s;
    },
  };
}

/** Run files the disk refused (src/runtime/disk-writes.ts): alert on any increase. */
function writeFailuresCounter(registers: Registry[]): Counter<'what'> {
  return new Counter({
    name: 'fleet_write_failures_total',
    help: 'Run files not written because the disk refused them (ENOSPC, EDQUOT, EIO, EROFS), by what: checkpoint, metrics, best, evaluator-state, run-file.',
    labelNames: ['what'] as const,
    registers,
  });
}

function serviceRegistry(service: ServiceName, labels: Record<string, string>): Registry {
  const register = new Registry();
  register.setDefaultLabels({ service, ...labels });
  collectDefaultMetrics({ register });
  return register;
}

export interface CoordinatorMetrics {
  registry: Registry;
  rounds: Counter;
  roundSeconds: Histogram;
  exchangeBytes: Counter<'direction'>;
  members: Gauge;
  samples: Counter;
  imagesPerSecond: Gauge;
  epoch: Gauge;
  parameterVersion: Gauge;
  testAccuracy: Gauge;
  bestTestAccuracy: Gauge;
  workerImagesPerSecond: Gauge<'worker'>;
  checkpointVersion: Gauge<'kind'>;
  lastRoundTimestamp: Gauge;
  eventsPending: EventBacklogGauge;
  writeFailures: Counter<'what'>;
  contributionsRefused: Counter<'reason'>;
  contributionsClipped: Counter<'worker'>;
  unauthenticatedCalls: Counter<'method'>;
}

export function coordinatorMetrics(labels: { run: string }): CoordinatorMetrics {
  const registry = serviceRegistry('coordinator', { run: labels.run });
  const registers = [registry];
  const exchangeBytes = new Counter({
    name: 'fleet_exchange_bytes_total',
    help: 'Tensor-set bytes exchanged with workers; direction=in (contributions received) or out (parameters sent).',
    labelNames: ['direction'] as const,
    registers,
  });
  // Both directions exist from the start, so rate() has a zero to begin from.
  exchangeBytes.inc({ direction: 'in' }, 0);
  exchangeBytes.inc({ direction: 'out' }, 0);
  return {
    registry,
    rounds: new Counter({ name: 'fleet_rounds_total', help: 'Rounds committed (parameters averaged and applied).', registers }),
    roundSeconds: new Histogram({
      name: 'fleet_round_seconds',
      help: 'Wall time of a round, from opening to commit.',
      buckets: ROUND_BUCKETS_S,
      registers,
    }),
    exchangeBytes,
    members: new Gauge({ name: 'fleet_members', help: 'Workers in the current membership.', registers }),
    samples: new Counter({
      name: 'fleet_samples_total',
      help: 'Training images processed across all workers, counted at commit.',
      registers,
    }),
    imagesPerSecond: new Gauge({
      name: 'fleet_images_per_second',
      help: 'Global training throughput of the last committed round (its images / its wall time).',
      registers,
    }),
    epoch: new Gauge({ name: 'fleet_epoch', help: 'Current epoch, counted from 0.', registers }),
    parameterVersion: new Gauge({
      name: 'fleet_parameter_version',
      help: 'Version of the current parameters (one per commit).',
      registers,
    }),
    testAccuracy: new Gauge({ name: 'fleet_test_accuracy', help: 'Latest reported test accuracy, fraction in [0, 1].', registers }),
    bestTestAccuracy: new Gauge({
      name: 'fleet_best_test_accuracy',
      help: 'Best test accuracy so far in this run, fraction in [0, 1].',
      registers,
    }),
    workerImagesPerSecond: new Gauge({
      name: 'fleet_worker_images_per_second',
      help: "Each worker's training throughput in its last contribution; the series is removed when the worker leaves.",
      labelNames: ['worker'] as const,
      registers,
    }),
    checkpointVersion: new Gauge({
      name: 'fleet_checkpoint_version',
      help: 'Parameter version of the last checkpoint written; kind=epoch_end (what the evaluator scores by default) or periodic.',
      labelNames: ['kind'] as const,
      registers,
    }),
    lastRoundTimestamp: new Gauge({
      name: 'fleet_last_round_timestamp_seconds',
      help: 'Unix time at which the last round was committed.',
      registers,
    }),
    eventsPending: eventBacklogGauge(registers),
    writeFailures: writeFailuresCounter(registers),
    contributionsRefused: new Counter({
      name: 'fleet_contributions_refused_total',
      help: 'Worker contributions refused, by the error class sent to the worker (e.g. StaleContributionError, TensorSetShapeError).',
      labelNames: ['reason'] as const,
      registers,
    }),
    contributionsClipped: new Counter({
      name: 'fleet_contributions_clipped_total',
      help: 'Accepted contributions the contribution check scaled down to its clip bound (norm above the clip factor x the recent median), by worker name.',
      labelNames: ['worker'] as const,
      registers,
    }),
    unauthenticatedCalls: new Counter({
      name: 'fleet_unauthenticated_calls_total',
      help: 'Calls refused for a missing or wrong token, by method.',
      labelNames: ['method'] as const,
      registers,
    }),
  };
}

export interface WorkerMetrics {
  registry: Registry;
  rounds: Counter;
  imagesPerSecond: Gauge;
  trainSeconds: Histogram;
  exchangeSeconds: Histogram<'direction'>;
  exchangeBytes: Counter<'direction'>;
  loss: Gauge;
  phaseSeconds: Counter<'phase'>;
  lastRoundTimestamp: Gauge;
}

export function workerMetrics(labels: { run: string; worker: string }): WorkerMetrics {
  const registry = serviceRegistry('worker', { run: labels.run, worker: labels.worker });
  const registers = [registry];
  const exchangeSeconds = new Histogram({
    name: 'fleet_worker_exchange_seconds',
    help: 'Time to move one tensor set; direction=download (parameters) or upload (contribution).',
    labelNames: ['direction'] as const,
    buckets: EXCHANGE_BUCKETS_S,
    registers,
  });
  const exchangeBytes = new Counter({
    name: 'fleet_exchange_bytes_total',
    help: 'Tensor-set bytes exchanged with the coordinator; direction=in (downloaded) or out (uploaded).',
    labelNames: ['direction'] as const,
    registers,
  });
  exchangeSeconds.zero({ direction: 'download' });
  exchangeSeconds.zero({ direction: 'upload' });
  exchangeBytes.inc({ direction: 'in' }, 0);
  exchangeBytes.inc({ direction: 'out' }, 0);
  const phaseSeconds = new Counter({
    name: 'fleet_worker_phase_seconds_total',
    help: 'Wall time spent per phase of the rounds: download, train, upload, wait (for the next round to open, for the others).',
    labelNames: ['phase'] as const,
    registers,
  });
  for (const phase of WORKER_PHASES) phaseSeconds.inc({ phase }, 0);
  return {
    registry,
    phaseSeconds,
    lastRoundTimestamp: new Gauge({
      name: 'fleet_worker_last_round_timestamp_seconds',
      help: "Unix time at which this worker's last contribution was accepted.",
      registers,
    }),
    rounds: new Counter({ name: 'fleet_worker_rounds_total', help: 'Rounds this worker contributed to.', registers }),
    imagesPerSecond: new Gauge({
      name: 'fleet_worker_images_per_second',
      help: "This worker's training throughput in its last round (compute only, exchange excluded).",
      registers,
    }),
    trainSeconds: new Histogram({
      name: 'fleet_worker_train_seconds',
      help: 'Local compute time of a round (forward, backward, local steps).',
      buckets: ROUND_BUCKETS_S,
      registers,
    }),
    exchangeSeconds,
    exchangeBytes,
    loss: new Gauge({ name: 'fleet_worker_loss', help: 'Mean training loss of the last round (sum of losses / images).', registers }),
  };
}

export interface EvaluatorMetrics {
  registry: Registry;
  evaluations: Counter;
  evaluationSeconds: Histogram;
  testAccuracy: Gauge;
  testLoss: Gauge;
  bestTestAccuracy: Gauge;
  parameterVersion: Gauge;
  versionsSkipped: Counter;
  lastEvaluationTimestamp: Gauge;
  eventsPending: EventBacklogGauge;
  writeFailures: Counter<'what'>;
}

export function evaluatorMetrics(labels: { run: string }): EvaluatorMetrics {
  const registry = serviceRegistry('evaluator', { run: labels.run });
  const registers = [registry];
  return {
    registry,
    evaluations: new Counter({ name: 'fleet_evaluations_total', help: 'Parameter versions evaluated on the test set.', registers }),
    evaluationSeconds: new Histogram({
      name: 'fleet_evaluation_seconds',
      help: 'Wall time of one test-set evaluation, loading the parameters included.',
      buckets: EVALUATION_BUCKETS_S,
      registers,
    }),
    testAccuracy: new Gauge({
      name: 'fleet_test_accuracy',
      help: 'Test accuracy of the last evaluated version, fraction in [0, 1].',
      registers,
    }),
    testLoss: new Gauge({
      name: 'fleet_test_loss',
      help: 'Mean test loss of the last evaluated version (sum of losses / images).',
      registers,
    }),
    bestTestAccuracy: new Gauge({
      name: 'fleet_best_test_accuracy',
      help: 'Best test accuracy so far in this run, fraction in [0, 1].',
      registers,
    }),
    parameterVersion: new Gauge({ name: 'fleet_parameter_version', help: 'Parameter version of the last evaluation.', registers }),
    versionsSkipped: new Counter({
      name: 'fleet_versions_skipped_total',
      help: 'Parameter versions not evaluated: the coordinator no longer kept them, or stayed unreachable.',
      registers,
    }),
    lastEvaluationTimestamp: new Gauge({
      name: 'fleet_last_evaluation_timestamp_seconds',
      help: 'Unix time at which the last evaluation finished.',
      registers,
    }),
    eventsPending: eventBacklogGauge(registers),
    writeFailures: writeFailuresCounter(registers),
  };
}
