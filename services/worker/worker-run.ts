import { classify, isUnavailable } from '../../src/rpc/classify.js';
import { sleepUnless } from '../../src/events/sleep.js';
import { CoordinatorRefusal } from '../../src/rpc/coordinator-refusals.js';
import { selectBackend } from '../../src/compute/index.js';
import { retryWithBackoff } from '../../src/runtime/retry.js';
import type { RoundWork } from '../../src/exchange/round-work.js';
import { parseTrainConfig, type BackendChoice, type TrainConfig } from '../../src/runtime/config/train-config.js';
import { loadCifar10Split } from '../../src/dataset/index.js';
import { buildModel } from '../../src/model/index.js';
import type { Logger } from '../../src/runtime/logger.js';
import { layoutLength, weightLayout, writeWeights, type WeightSlice } from '../../src/training/flat-weights.js';
import { exchangeSlices, freezePhaseOf, trainableSetFor } from '../../src/training/trainable-set.js';
import { trainableParameters } from '../../src/training/model-parameters.js';
import { SgdMomentum } from '../../src/training/sgd-momentum.js';
import { TrainBatchMaker } from '../../src/training/train-batch.js';
import type * as tf from '@tensorflow/tfjs';
import { prefetchFirstBatch, trainRound, type PrefetchedBatch, type WorkerModel } from './step/train-round.js';
import { prefetchFromEnv } from './prefetch-knob.js';
import { TrainingDivergedError } from '../../src/training/errors.js';
import { allowedCpus } from '../../src/runtime/allowed-cpus.js';
import type { ServiceEnd } from '../../src/runtime/stopped-exit.js';
import type { HeartbeatSender, HeartbeatUpdate } from './heartbeat/heartbeat-thread.js';
import { faultGradient, gradientFault } from './step/fault-gradient.js';
import { faultStepBlock } from './step/fault-step-block.js';

export type WorkAssignment = RoundWork;

/** What the worker needs of the coordinator; the gRPC client implements it. */
export interface CoordinatorClient {
  register(request: {
    runId: string;
    workerName: string;
    backend: string;
  }): Promise<{ workerId: string; runId: string; configJson: string; heartbeatIntervalMs: number }>;
  /** The worker's work in the first round numbered `fromRound` or later; null when the run is over. */
  nextRound(workerId: string, fromRound: number): Promise<WorkAssignment | null>;
  /** The values may live in a buffer the next fetch overwrites: copy them out (into the model) before fetching again. */
  /** `only`: just these slices, packed (a frozen phase); every tensor when absent. */
  /** `wireBytes`: the data bytes received (half the values' with --compress fp16/bf16). */
  fetchParameters(
    workerId: string,
    version: number,
    only?: readonly WeightSlice[],
  ): Promise<{ version: number; values: Float32Array; wireBytes: number }>;
  contribute(contribution: {
    workerId: string;
    round: number;
    version: number;
    kind: 'gradients' | 'parameters';
    sampleCount: number;
    lossSum: number;
    correct: number;
    trainMs: number;
    /** This round's parameter fetch, wall time (0: the parameters were current). */
    downloadMs?: number;
    /** The previous accepted contribution's send, wall time until acknowledged, and its round. */
    previousUpload?: { ms: number; round: number };
    values: Float32Array;
    layout: ReturnType<typeof weightLayout>;
    /** This worker's position among the round's members: keys stochastic rounding (--compress with --sync-every K > 1). */
    memberIndex?: number;
  }): Promise<{ round: number; nextVersion: number; wireBytes: number }>;
  heartbeat(workerId: string, round: number): Promise<boolean>;
  leave(workerId: string, reason: string): Promise<void>;
}

export interface WorkerOptions {
  name: string;
  runId: string;
  /** Overrides of the run's config that belong to this machine. */
  dataDir: string | null;
  backend: BackendChoice | null;
  /** Native kernel threads on this machine (not the run's: another machine's CPUs); null: all this process may use. */
  threads: number | null;
  /** How long to ride out an unreachable coordinator (a restart, a long pause) before giving up. */
  reconnectTimeoutMs: number;
  /** The coordinator's address, named in the log lines of retries. */
  coordinator?: string;
  /** Told the model's weight layout once it is built (the client checks transfers against it). */
  onLayout?: (layout: ReturnType<typeof weightLayout>) => void;
  /** Told of each contributed round (metrics). */
  onRound?: (r: RoundReport) => void;
  /** Make a round's first batch while its parameters download (default: FLEET_PREFETCH, on unless 0). */
  prefetch?: boolean;
  /**
   * Starts the heartbeats once registered (fleet worker: a thread of their own, heartbeat-thread.ts); default:
   * timers on this thread, which a training step holds up.
   */
  heartbeats?: (workerId: string, intervalMs: number) => HeartbeatSender;
}

export interface RoundReport {
  run: string;
  samples: number;
  loss: number;
  trainMs: number;
  /** 0 when the round needed no download (the parameters were current). */
  downloadMs: number;
  uploadMs: number;
  /** The contribution's data bytes as sent (0 when an earlier attempt had delivered it). */
  bytes: number;
  /** The parameters' data bytes received this round (0 without a download). */
  downloadBytes: number;
}

/** The coordinator no longer knows this worker (evicted, or restarted): register again. */
export function isEvicted(err: unknown): boolean {
  return classify(err)?.errorClass === CoordinatorRefusal.UnknownWorker;
}

/**
 * Retries an idempotent call while the coordinator is unavailable (restarting,
 * stopped to be resumed, cut off), up to the worker's reconnect timeout; a
 * stop signal ends the retries at once.
 */
function retryUnavailable<T>(what: string, options: WorkerOptions, log: Logger, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  const target = options.coordinator ? { target: options.coordinator } : {};
  return retryWithBackoff({ what, ...target, timeoutMs: options.reconnectTimeoutMs, retriable: isUnavailable, log, signal }, call);
}

/** The run has its --workers MAX members (RESOURCE_EXHAUSTED, RunFullError). */
export function isRunFull(err: unknown): boolean {
  return classify(err)?.errorClass === CoordinatorRefusal.RunFull;
}

/** The longest wait between registrations refused because the run is full. */
const RUN_FULL_MAX_BACKOFF_MS = 10_000;

/**
 * Registration: retried while the coordinator is unavailable (up to the
 * reconnect timeout) and, while the run is full, for as long as it takes
 * (backoff up to 10 s): a spare takes the place of a member that leaves or
 * is evicted. A stop signal ends the waiting.
 */
async function registerRetrying<T>(options: WorkerOptions, log: Logger, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  let backoffMs = 500;
  for (;;) {
    try {
      return await retryUnavailable('register', options, log, signal, call);
    } catch (err) {
      if (!isRunFull(err) || signal.aborted) throw err;
      log.warn({ retryInMs: backoffMs, err: (err as Error).message }, 'run is full: waiting for a place');
      await sleepUnless(signal, backoffMs);
      if (signal.aborted) throw err;
      backoffMs = Math.min(RUN_FULL_MAX_BACKOFF_MS, backoffMs * 2);
    }
  }
}

/**
 * A worker's life: register, load the data and build the model the run's
 * config names, then per round fetch the round's parameters, train the
 * assigned batches, contribute. An evicted worker registers again and goes
 * on with the current parameters. `stop()` (SIGTERM) finishes the round in
 * hand, then leaves.
 */
export async function runWorker(
  client: CoordinatorClient,
  options: WorkerOptions,
  rootLog: Logger,
  signal: AbortSignal,
): Promise<{ rounds: number; end: ServiceEnd }> {
  const registration = await registerRetrying(options, rootLog, signal, () =>
    client.register({ runId: options.runId, workerName: options.name, backend: options.backend ?? 'auto' }),
  );
  const raw = JSON.parse(registration.configJson) as Record<string, unknown>;
  const log = rootLog.child({ run: registration.runId, worker: registration.workerId });
  // From registration on: loading the data and building the model may take longer than the heartbeat timeout.
  const beats = (options.heartbeats ?? mainThreadHeartbeats(client, log))(registration.workerId, registration.heartbeatIntervalMs);
  try {
    return await trainRegistered(client, options, rootLog, signal, registration, raw, log, beats);
  } finally {
    await beats.stop();
  }
}

async function trainRegistered(
  client: CoordinatorClient,
  options: WorkerOptions,
  rootLog: Logger,
  signal: AbortSignal,
  registered: Awaited<ReturnType<CoordinatorClient['register']>>,
  raw: Record<string, unknown>,
  registeredLog: Logger,
  beats: HeartbeatSender,
): Promise<{ rounds: number; end: ServiceEnd }> {
  let registration = registered;
  let log = registeredLog;
  let config: TrainConfig;
  let backend: Awaited<ReturnType<typeof selectBackend>>;
  let train: Awaited<ReturnType<typeof loadCifar10Split>>;
  try {
    config = parseTrainConfig({
      ...raw,
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    });
    backend = await selectBackend(config.backend, log, { threads: options.threads });
    train = await loadCifar10Split({
      dir: config.dataDir,
      split: 'train',
      allowPartial: config.allowPartial,
      ...(config.limitTrain !== null ? { limit: config.limitTrain } : {}),
    });
  } catch (err) {
    // Registered but unable to train (bad data on this machine, a bad override): leave at once,
    // so the coordinator does not wait a heartbeat timeout for a member that will never contribute.
    await client.leave(registration.workerId, `failed: ${(err as Error).message}`.slice(0, 500)).catch(() => {});
    throw err;
  }
  const model = buildModel({ name: config.model, seed: config.seed, stem: config.stem });
  const worker = {
    model,
    params: trainableParameters(model),
    layout: weightLayout(model),
    batches: new TrainBatchMaker(train, config, 10),
  };
  options.onLayout?.(worker.layout);
  const full = new Float32Array(layoutLength(worker.layout));
  // --freeze-epochs: what a round trains and sends in an epoch (the coordinator derives the same from the run config).
  let phase: { epoch: number; exchange: ReturnType<typeof roundExchange> } | null = null;
  const exchangeOf = (epoch: number) => {
    if (phase?.epoch !== epoch) phase = { epoch, exchange: roundExchange(worker, config, epoch, full) };
    return phase.exchange;
  };
  const kind = config.syncEvery === 1 ? 'gradients' : 'parameters';
  const optimizer = new SgdMomentum({ momentum: config.momentum, weightDecay: config.weightDecay });
  // cpus: where this process may run (taskset, a container's cpuset), to see pinning at a glance;
  // gc: V8's collector threads (the launcher's --single-threaded-gc).
  const gc = process.execArgv.includes('--single-threaded-gc') ? 'single-threaded' : 'parallel';
  log.info(
    { backend: backend.name, model: config.model, train: train.count, kind, cpus: allowedCpus()?.join(',') ?? null, gc },
    'worker ready',
  );

  let workerId = registration.workerId;
  let rounds = 0;
  let fromRound = 0;
  const prefetch = options.prefetch ?? prefetchFromEnv();
  /** When the last contribution was accepted: from then on the worker waits for the next round to open. */
  let lastRoundEnd = performance.now();
  /** The last accepted contribution's upload: known only once accepted, so the next contribution carries it. */
  let previousUpload: { ms: number; round: number } | undefined;
  let haveVersion = -1;
  /** Whether the model holds the master's frozen tensors (a full fetch since registering). */
  let haveFrozen = false;
  /** Why the loop ended: the coordinator said the run is over, or a stop signal. */
  let end: ServiceEnd = 'stopped';
  try {
    while (!signal.aborted) {
      let work: WorkAssignment | null;
      try {
        work = await retryUnavailable('next round', options, log, signal, () => client.nextRound(workerId, fromRound));
      } catch (err) {
        // Asked to stop while the coordinator is away (stopping itself, restarting): nothing to finish.
        if (signal.aborted && isUnavailable(err)) break;
        if (!isEvicted(err)) throw err;
        registration = await registerRetrying(options, log, signal, () =>
          client.register({ runId: registration.runId, workerName: options.name, backend: backend.name }),
        );
        workerId = registration.workerId;
        beats.update({ workerId, round: 0 });
        fromRound = 0; // a restarted coordinator may number rounds from an older checkpoint
        previousUpload = undefined; // it belongs to the old id
        haveVersion = -1;
        haveFrozen = false;
        log = rootLog.child({ run: registration.runId, worker: workerId });
        log.warn('evicted by the coordinator: registered again');
        continue;
      }
      if (!work) {
        end = 'finished';
        break;
      }
      const assignedAt = performance.now();
      beats.update({ workerId, round: work.round });
      fromRound = work.round + 1;
      if (work.batches.length === 0) continue; // nothing left for this member in the epoch's last round
      const roundLog = log.child({ round: work.round, epoch: work.epoch });
      let downloadMs = 0;
      let downloadBytes = 0;
      let prefetched: PrefetchedBatch | null = null;
      let prefetchMs = 0;
      const exchange = exchangeOf(work.epoch);
      if (haveVersion !== work.version) {
        const fetchStarted = performance.now();
        // In a frozen phase the frozen tensors never change: once this model has them all, the trainable subset is enough.
        const only: readonly WeightSlice[] | undefined = exchange.trainable && haveFrozen ? exchange.slices : undefined;
        let fetched: Awaited<ReturnType<CoordinatorClient['fetchParameters']>>;
        const fetching = retryUnavailable('fetch parameters', options, log, signal, () =>
          client.fetchParameters(workerId, work!.version, only),
        );
        if (prefetch) {
          // The batch is made in slices while the parameters arrive (the I/O is the event loop's): the core works
          // during the download. A failed fetch is handled below, once the batch is made.
          fetching.catch(() => {});
          const prefetchStarted = performance.now();
          prefetched = await prefetchFirstBatch(worker, work);
          prefetchMs = performance.now() - prefetchStarted;
        }
        try {
          fetched = await fetching;
        } catch (err) {
          // The round's version is gone: the master moved on while this worker was away (hung,
          // stopped, cut off) and it was evicted. The next round sorts it out (UnknownWorker: register again).
          if (classify(err)?.errorClass !== CoordinatorRefusal.VersionUnavailable) throw err;
          roundLog.warn({ err: (err as Error).message }, 'the round moved on before its parameters were fetched');
          continue;
        }
        writeWeights(model, only ?? worker.layout, fetched.values);
        haveFrozen ||= only === undefined;
        downloadBytes = fetched.wireBytes;
        haveVersion = fetched.version;
        downloadMs = performance.now() - fetchStarted;
      }
      const started = performance.now();
      faultStepBlock();
      const out = exchange.out;
      const result = await trainRound(
        worker,
        work,
        kind === 'gradients' ? { kind } : { kind, optimizer },
        out,
        exchange.trainable,
        prefetched,
      );
      const trainMs = performance.now() - started;
      // A NaN loss means NaN gradients, which the coordinator would refuse anyway: say why.
      if (!Number.isFinite(result.lossSum)) throw new TrainingDivergedError(work.epoch, work.round, result.lossSum / result.sampleCount);
      // Test-only (FLEET_FAULT_GRADIENT): garbage in place of the gradients, as a failing device sends.
      if (kind === 'gradients' && faultGradient(out, work.round))
        log.warn({ round: work.round, fault: gradientFault() }, 'fault injected: gradients corrupted');
      const uploadStarted = performance.now();
      /** The contribution's data bytes as sent (0 when an earlier attempt had delivered it). */
      let uploadBytes = 0;
      try {
        // Retried while the coordinator is unreachable: it refuses a second copy of an
        // accepted contribution (AlreadyContributed), so a retry after a lost answer
        // cannot count twice.
        const ack = await retryUnavailable('contribute', options, log, signal, () =>
          client.contribute({
            workerId,
            round: work!.round,
            version: work!.version,
            kind,
            ...result,
            trainMs,
            downloadMs,
            previousUpload,
            values: out,
            layout: exchange.slices,
            memberIndex: work!.memberIndex,
          }),
        );
        uploadBytes = ack.wireBytes;
      } catch (err) {
        const refusal = classify(err)?.errorClass;
        if (refusal === CoordinatorRefusal.AlreadyContributed) {
          roundLog.info('contribution had arrived before the connection dropped');
        } else if (
          isEvicted(err) ||
          isUnavailable(err) ||
          refusal === CoordinatorRefusal.StaleContribution ||
          refusal === CoordinatorRefusal.NotAMember
        ) {
          // Evicted, or the round closed without us: the next round sorts it out
          // (UnknownWorker re-registers; a restarted coordinator re-plans the round).
          roundLog.warn({ err: (err as Error).message }, 'contribution not accepted');
          continue;
        } else {
          throw err;
        }
      }
      haveVersion = -1; // the master moves on with this round
      rounds++;
      const roundEnd = performance.now();
      const uploadMs = roundEnd - uploadStarted;
      previousUpload = { ms: uploadMs, round: work.round };
      const waitMs = assignedAt - lastRoundEnd;
      const roundMs = roundEnd - lastRoundEnd;
      lastRoundEnd = roundEnd;
      options.onRound?.({
        run: registration.runId,
        samples: result.sampleCount,
        loss: result.lossSum / result.sampleCount,
        trainMs,
        downloadMs,
        uploadMs,
        bytes: uploadBytes,
        downloadBytes,
      });
      roundLog.info(
        {
          samples: result.sampleCount,
          loss: result.lossSum / result.sampleCount,
          imagesPerSecond: (result.sampleCount * 1000) / trainMs,
          trainMs: Math.round(trainMs),
          downloadMs: Math.round(downloadMs),
          uploadMs: Math.round(uploadMs),
          bytes: uploadBytes,
          downloadBytes,
          // Where the round's time went: training, the transfers (the batch made meanwhile: prefetchMs, inside the
          // download), waiting for the round to open (the others' compute, the coordinator's update); the rest is bookkeeping.
          computeMs: Math.round(trainMs),
          exchangeMs: Math.round(downloadMs + uploadMs),
          waitMs: Math.round(waitMs),
          roundMs: Math.round(roundMs),
          prefetchMs: Math.round(prefetchMs),
          prefetched: prefetched !== null,
        },
        'round contributed',
      );
      // Yield so heartbeats and signals get their turn between rounds of synchronous compute.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  if (end === 'stopped') await client.leave(workerId, 'stopped').catch(() => {});
  // outcome: the run is finished (the coordinator said so), or this worker was stopped; the launcher reads 'worker done'.
  log.info({ rounds, outcome: end === 'finished' ? 'run finished' : 'stopped' }, 'worker done');
  return { rounds, end };
}

/**
 * A round's exchange in an epoch: every slice into the model-sized buffer, or
 * in a frozen phase the trainable subset (exchangeSlices) into a buffer of
 * its size, with the variables that train and the mode the model runs in.
 */
function roundExchange(
  worker: WorkerModel,
  config: TrainConfig,
  epoch: number,
  full: Float32Array,
): {
  slices: WeightSlice[];
  out: Float32Array;
  trainable?: { params: Map<string, tf.Variable>; training: boolean; slices: WeightSlice[] };
} {
  if (freezePhaseOf(config, epoch) === 'fine-tune') return { slices: worker.layout, out: full };
  const slices = exchangeSlices(worker.model, worker.layout, config, epoch);
  const set = trainableSetFor(worker.model, worker.params, config, epoch);
  return { slices, out: new Float32Array(layoutLength(slices)), trainable: { params: set.params, training: set.training, slices } };
}

/** Heartbeats from this thread's timers: for in-process workers (tests); a step delays them. */
function mainThreadHeartbeats(client: CoordinatorClient, log: Logger) {
  return (workerId: string, intervalMs: number): HeartbeatSender => {
    let state: HeartbeatUpdate = { workerId, round: 0 };
    const timer = setInterval(() => {
      if (state.workerId === null) return;
      client.heartbeat(state.workerId, state.round).catch((err: unknown) => log.debug({ err }, 'heartbeat failed'));
    }, intervalMs);
    return {
      update(u) {
        state = u;
      },
      async stop() {
        clearInterval(timer);
      },
    };
  };
}
