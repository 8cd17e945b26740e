import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { selectBackend } from '../../src/compute/index.js';
import { globalBatchOf, planTraining, type TrainConfig } from '../../src/runtime/config/train-config.js';
import { loadRunData } from '../../src/dataset/index.js';
import { buildModel, importSummary, loadTorchvisionResNet, META_JSON } from '../../src/model/index.js';
import { initFromModel } from '../../src/training/init-from.js';
import { exchangeSlices } from '../../src/training/trainable-set.js';
import type { Logger } from '../../src/runtime/logger.js';
import { scoreTestSet } from '../../src/training/evaluate.js';
import { layoutLength, readWeights, weightLayout, type WeightSlice } from '../../src/training/flat-weights.js';
import {
  bestModelMeta,
  bestModelMetaSchema,
  metricsLine,
  openRunRecord,
  readOptionalRecordFile,
  runConfigRecord,
  type EpochTraining,
} from '../../src/training/run-record/index.js';
import { CheckpointError, readCheckpoint, writeCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import {
  CHECKPOINT_FILE,
  RunAlreadyFinishedError,
  logEpochsChange,
  type RunCheckpointState,
} from '../../src/training/checkpoint/run-checkpoint.js';
import { RoundController, type EpochTotals } from './rounds/round-controller.js';
import { AppliedLedger, EpochSampler } from './sampler/index.js';
import type { RunReporter } from './telemetry/run-reporter.js';
import { VectorMemory } from '../../src/compute/vector-math/index.js';
import { SINK_SCRATCH_FLOATS } from './rpc/coordinator-server.js';
import { readableScore } from '../../src/training/run-record/score-tables.js';
import { assignShards, type ShardSlice } from '../../src/exchange/shard-assignment.js';
import type { ClientChannel } from '../../src/rpc/security/index.js';
import { FlagError } from '../../src/runtime/config/flag-error.js';
import { ShardPeers } from './shards/shard-peers.js';
import { ContributionCheck, type ContributionCheckOptions, type NormWindowState } from './aggregator/contribution-check.js';
import {
  DiskWrites,
  MAX_CONSECUTIVE_CHECKPOINT_FAILURES,
  WriteFailedError,
  type WriteFailure,
  WriteOnceFiles,
} from '../../src/runtime/disk-writes.js';
import { METRICS_JSONL } from '../../src/runtime/run-dir.js';
import { AggregatorJoins } from './shards/aggregator-joins.js';

export interface CoordinatorOptions {
  config: TrainConfig;
  /**
   * --workers: the run starts with `min` members and admits up to `max`; `elastic` (MIN:MAX written): no round
   * starts below `min`; plain N: the run goes on with fewer after a loss. Absent: config.workers, plain.
   */
  workers?: { min: number; max: number; elastic: boolean };
  resume: boolean;
  roundTimeoutMs: number;
  heartbeatTimeoutMs: number;
  checkpointEveryRounds: number;
  /** Also a checkpoint once this long has passed since the last (--checkpoint-every-seconds); 0: by rounds only. */
  checkpointEveryMs: number;
  /** Keep a per-index ledger and write it at each epoch end (tests, debugging). */
  ledger: boolean;
  /** An evaluator service scores the checkpoints (fleet evaluator); else the coordinator scores the test set at epoch ends. */
  externalEvaluator: boolean;
  /** The contribution check's settings (--contribution-check); absent: off. */
  contributionCheck?: Partial<ContributionCheckOptions>;
  /** Checkpoint versions kept fetchable for the evaluator. */
  retainVersions: number;
  reporter: RunReporter;
  /**
   * --shards K > 1: the other K-1 slices' aggregators (their addresses, as workers reach them; or those that
   * join, once all have) and how to call them.
   */
  shards?: { aggregators: string[] | AggregatorJoins; channel: ClientChannel };
}

/** Model-sized arrays in the coordinator's vector memory: master, momentum, the round's sum and the staged one. */
const COORDINATOR_VECTOR_COPIES = 4;

/**
 * The coordinator's vector memory for a model of `floats` parameters: the
 * master copy, its momentum, the round's sums and the receive scratch live
 * in it, where the SIMD kernels (vector-math) sum, scan and step them in place.
 */
export function coordinatorVectorMemory(floats: number): VectorMemory {
  return VectorMemory.create(floats * COORDINATOR_VECTOR_COPIES + SINK_SCRATCH_FLOATS);
}
// The run checkpoint is the library's (the one-process trainer writes the same file); named here for callers of the coordinator.
export { CHECKPOINT_FILE, RunAlreadyFinishedError };

/**
 * Everything of a coordinator but the network: the master model, the sampler,
 * the rounds, and what happens at epoch ends (the test set scored, a metrics
 * line, the best model, a checkpoint). With an external evaluator the
 * coordinator only checkpoints, and the epoch-end checkpoint event carries
 * the epoch's training for the evaluator's metrics line.
 */
export async function createCoordinator(
  options: CoordinatorOptions,
  log: Logger,
): Promise<{
  controller: RoundController;
  layout: WeightSlice[];
  vectors: VectorMemory;
  runDir: string;
  /** --shards K > 1: who aggregates which tensors (shard 0 here, address empty), for the workers at registration. */
  shardMap: { address: string; tensors: string[] }[];
  /** --shards K > 1: this coordinator's own slice. */
  shardZero?: ShardSlice;
  /** --shards K > 1: whether the master holds all of `version` (gathered at a checkpoint). */
  isWhole?: (version: number) => boolean;
  /** Tells the aggregators the run is over (they exit); nothing without --shards. */
  finishShards: (reason: string) => Promise<void>;
  /** A graceful stop's checkpoint, after the drain: written unless the file already holds this state. */
  checkpointStop: () => Promise<boolean>;
  /**
   * With an external evaluator that is gone: scores the run's last epoch end here (metrics line, best/ when it
   * beats the evaluator's, eval event). Null when there is none to score (the run did not reach it).
   */
  scoreLastEpoch: () => Promise<{ version: number; epoch: number } | null>;
  close: () => void;
}> {
  const { config, reporter } = options;
  const backend = await selectBackend(config.backend, log, { threads: config.threads });
  const data = await loadRunData(config);
  const plan = planTraining(config, data.train.count);
  const record = await openRunRecord(config.outDir);
  const checkpointPath = join(record.path, CHECKPOINT_FILE);
  const model = buildModel({ name: config.model, seed: config.seed, stem: config.stem });
  // The master copy starts from --init-from's model (workers fetch it); a resume takes the checkpoint's instead.
  if (config.initFrom !== null && !options.resume)
    log.info(await initFromModel(model, config.initFrom), 'weights initialised from an earlier model');
  // ImageNet weights for a fresh start (workers fetch them from the master copy); conv1/fc skipped where the stem and head are new.
  if (config.pretrained !== null && !options.resume)
    log.info(importSummary(config.pretrained, loadTorchvisionResNet(model, config.pretrained)), 'pretrained weights loaded');
  const layout = weightLayout(model);
  const sharding = await shardsOf(options, layout, log);
  const ledger = options.ledger ? new AppliedLedger(data.train.count) : undefined;

  let params: Float32Array = readWeights(model, layout, new Float32Array(layoutLength(layout)));
  let momentum: Float32Array = new Float32Array(params.length);
  // The global batch is fixed for the run; each round cuts it among the members present (elastic membership).
  const globalBatch = globalBatchOf(config);
  let sampler = new EpochSampler(
    { seed: config.seed, count: data.train.count, batchSize: config.batchSize, syncEvery: config.syncEvery, globalBatch, epoch: 1 },
    ledger ? { ledger } : {},
  );
  const writeConfig = () =>
    record.writeConfig(
      runConfigRecord(config, backend.name, { plan, train: data.train.count, test: data.test.count, classNames: data.classNames }),
    );
  let resume: ConstructorParameters<typeof RoundController>[0]['resume'];
  const contributionCheck = options.contributionCheck ? new ContributionCheck(options.contributionCheck) : null;
  let best = { epoch: 0, accuracy: -1 };
  /** The version and round the checkpoint file holds (as read on resume, or last written). */
  let saved: { version: number; round: number } | null = null;
  if (options.resume) {
    const loaded = await readCheckpoint(checkpointPath);
    const s = loaded.header.state as unknown as CheckpointState;
    if ((s.writer as string) === 'trainer' || s.sampler === undefined) {
      throw new CheckpointError(
        checkpointPath,
        'it was written by fleet train --workers 1 (one process): resume it with fleet train --resume',
      );
    }
    params = loaded.arrays.params!;
    momentum = loaded.arrays.momentum!;
    sampler = EpochSampler.fromState(s.sampler, { count: data.train.count, globalBatch }, ledger ? { ledger } : {});
    let epochTotals = s.epochTotals;
    if (sampler.epochDone) {
      // Written at an epoch end (its metrics line, best/ and ledger were written before it).
      if (sampler.epoch >= config.epochs) throw new RunAlreadyFinishedError(checkpointPath, sampler.epoch);
      sampler.nextEpoch();
      epochTotals = { epoch: sampler.epoch, samples: 0, lossSum: 0, correct: 0 };
    }
    if (s.config.epochs !== config.epochs) {
      logEpochsChange(log, s.config.epochs, config.epochs, plan);
      await writeConfig();
    }
    // The ledger counts what the checkpoint had applied of this epoch, so it still checks the whole epoch.
    ledger?.record(sampler.epoch, sampler.appliedIndices());
    // This epoch's end comes again: a line the crashed process wrote for it after the checkpoint goes.
    if (!options.externalEvaluator) await record.keepMetricsBefore(sampler.epoch);
    resume = { version: s.version, globalStep: s.globalStep, round: s.round, optimizerSteps: s.optimizerSteps, epochTotals };
    // Older checkpoints have none: the window warms up again.
    if (contributionCheck && s.contributionWindow) {
      try {
        contributionCheck.restoreWindow(s.contributionWindow);
      } catch (err) {
        throw new CheckpointError(checkpointPath, (err as Error).message);
      }
    }
    best = s.best;
    saved = { version: s.version, round: s.round };
    log.info({ version: s.version, round: s.round, epoch: sampler.epoch, file: checkpointPath }, 'resumed from checkpoint');
  } else {
    await writeConfig();
  }

  // A full disk (ENOSPC, EIO...): the previous file stays, the failure is logged and published, training goes on.
  const writes = new DiskWrites(log, (f) => reporter.writeFailed(f));
  /** The run stops (the round fails, exit 1): the last checkpoint written stays resumable. */
  const stopOn = (f: WriteFailure, reason: string) => new WriteFailedError(f.what, f.path, f.code, reason);

  /** `mustWrite`: the run's last checkpoint, or a stop's: its failure ends the run with WriteFailedError. */
  const checkpoint = async (reason: string, epochEnd: EpochTraining | null, mustWrite = false) => {
    const snap = controller.snapshot();
    await gatherShards(snap);
    const state: CheckpointState = {
      writer: 'coordinator',
      config,
      epochDone: epochEnd !== null,
      version: snap.version,
      globalStep: snap.globalStep,
      round: snap.round,
      optimizerSteps: snap.optimizerSteps,
      epochTotals: snap.epochTotals,
      sampler: snap.sampler,
      best,
      ...(contributionCheck ? { contributionWindow: contributionCheck.windowState() } : {}),
    };
    const epoch = epochEnd?.epoch ?? snap.epochTotals.epoch;
    const failed = await writes.attempt('checkpoint', checkpointPath, { round: snap.round, epoch }, () =>
      writeCheckpoint(checkpointPath, state as unknown as Record<string, unknown>, { params: snap.params, momentum: snap.momentum }),
    );
    if (failed) {
      if (mustWrite) throw stopOn(failed, `the run's ${reason === 'stop' ? 'stop' : 'last'} checkpoint`);
      if (failed.consecutive >= MAX_CONSECUTIVE_CHECKPOINT_FAILURES)
        throw stopOn(failed, `${failed.consecutive} checkpoints in a row failed`);
    } else {
      saved = { version: snap.version, round: snap.round };
      log.info({ round: snap.round, version: snap.version, reason }, 'checkpoint written');
    }
    // Fetchable for the evaluator whether or not the file was written: it scores the epoch and writes its line.
    controller.retainCurrentVersion();
    reporter.checkpoint(
      {
        version: snap.version,
        round: snap.round,
        epoch: epochEnd?.epoch ?? snap.epochTotals.epoch,
        globalStep: snap.globalStep,
        epochEnd: epochEnd !== null,
        trainLoss: epochEnd?.trainLoss ?? null,
        trainAccuracy: epochEnd?.trainAccuracy ?? null,
        trainSamples: epochEnd?.trainSamples ?? null,
        lr: epochEnd?.lr ?? null,
        epochSeconds: epochEnd?.epochSeconds ?? null,
        imagesPerSecond: epochEnd?.imagesPerSecond ?? null,
        workers: epochEnd?.workers ?? null,
      },
      failed === null,
    );
  };
  /** The applied-samples ledger of an epoch (--ledger): a file the disk refused comes again at the next epoch end. */
  const ledgerFiles = new WriteOnceFiles(writes, 'run-file');
  const writeLedger = async (epoch: number) => {
    if (!ledger) return;
    const name = `applied-epoch-${epoch}.json`;
    await ledgerFiles.write(join(record.path, name), { epoch }, () => record.writeJson(name, ledger.report(epoch)));
  };

  /**
   * Scores `params` (version `version`, the end of `training.epoch`) on the test set: its metrics line, best/
   * when it beats `best`, the eval (and best) events. Returns the line's or best/'s write failure, or null.
   */
  const scoreEpoch = async (training: EpochTraining, version: number, params: Float32Array): Promise<WriteFailure | null> => {
    const evalStarted = performance.now();
    const evaluation = await scoreTestSet(model, data.test, { batchSize: config.evalBatchSize, weights: { layout, values: params } });
    const line = metricsLine(training, evaluation);
    const metricsFailed = await writes.attempt('metrics', join(record.path, METRICS_JSONL), { epoch: training.epoch }, () =>
      record.recordEpoch(line),
    );
    log.info(
      {
        epoch: training.epoch,
        version,
        trainLoss: line.trainLoss,
        testAccuracy: line.testAccuracy,
        testLoss: line.testLoss,
        ...readableScore({ ...evaluation, classNames: data.classNames }),
      },
      'epoch done',
    );
    // Best only once best/ holds it: a best/ the disk refused leaves the previous one, and a later epoch may beat that.
    let isBest = evaluation.accuracy > best.accuracy;
    let bestFailed: WriteFailure | null = null;
    if (isBest) {
      const meta = bestModelMeta({ config, classNames: data.classNames, evaluation, epoch: training.epoch, step: line.step, version });
      bestFailed = await writes.attempt('best', record.bestDir, { epoch: training.epoch }, () => record.saveBest(model, meta));
      if (bestFailed) isBest = false;
      else best = { epoch: training.epoch, accuracy: evaluation.accuracy };
    }
    reporter.evaluated({
      version,
      epoch: training.epoch,
      globalStep: line.step,
      epochEnd: true,
      accuracy: evaluation.accuracy,
      loss: evaluation.loss,
      samples: data.test.count,
      perClassAccuracy: evaluation.perClassAccuracy,
      confusion: evaluation.confusion,
      evalMs: performance.now() - evalStarted,
      best: isBest,
    });
    if (isBest) reporter.best({ version, epoch: training.epoch, accuracy: evaluation.accuracy, path: record.bestDir });
    return metricsFailed ?? bestFailed;
  };
  /** With an external evaluator: the run's last epoch end, for scoring it here when no evaluator is alive to. */
  let lastEpochEnd: { training: EpochTraining; version: number } | null = null;

  // Who writes an epoch's line: this coordinator, or, with --external-evaluator, the evaluator from the
  // epoch-end checkpoint event. Either way the line is metricsLine(training, evaluation) through the run record.
  const onEpochEnd = async (totals: EpochTotals, version: number) => {
    const snap = controller.snapshot();
    // Scored (and checkpointed) whole: the other slices come from their aggregators first.
    await gatherShards(snap);
    const training = reporter.epochEnded(totals, { version, step: snap.globalStep, workers: controller.memberCount() });
    // The run's last epoch end must be kept whole: else the run stops, resumable from the checkpoint before it.
    const last = totals.epoch >= config.epochs;
    if (options.externalEvaluator) {
      if (last) lastEpochEnd = { training, version };
      await writeLedger(totals.epoch);
      await checkpoint('epoch end', training, last);
      return;
    }
    const lost = await scoreEpoch(training, version, snap.params);
    await writeLedger(totals.epoch);
    // The last epoch's line or best model lost: no final checkpoint (a resume would find the run finished).
    if (last && lost) throw stopOn(lost, "the run's last epoch");
    await checkpoint('epoch end', training, last);
  };

  /** Sharded: the master here is current in shard 0 only; a checkpoint or a score takes the other slices from their aggregators. */
  let gatheredVersion = -1;
  const gatherShards = async (snap: { params: Float32Array; momentum: Float32Array; version: number }) => {
    if (!sharding || gatheredVersion === snap.version) return;
    await sharding.peers.gather(snap.params, snap.momentum, snap.version);
    gatheredVersion = snap.version;
  };

  const vectors = coordinatorVectorMemory(params.length);
  params = vectors.adopt(params);
  momentum = vectors.adopt(momentum);
  const controller = new RoundController({
    config,
    plan,
    layout,
    // --freeze-epochs: a frozen epoch's rounds exchange the trainable subset only (the workers derive the same).
    ...(config.freezeEpochs > 0 ? { exchangeOf: (epoch: number) => exchangeSlices(model, layout, config, epoch) } : {}),
    // --shards: this coordinator sums and updates shard 0's tensors; the aggregators the others.
    ...(sharding ? { exchangeOf: () => sharding.plan[0]!.slices, shards: sharding.peers } : {}),
    params,
    momentum,
    sampler,
    ...(contributionCheck ? { contributionCheck } : {}),
    vectors,
    // --workers MIN:MAX (the cluster's, from this command line even on a resume); plain N: start with N, admit N.
    expectedWorkers: options.workers?.min ?? config.workers,
    minWorkers: options.workers?.elastic ? options.workers.min : 1,
    maxWorkers: options.workers?.max ?? config.workers,
    roundTimeoutMs: options.roundTimeoutMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    checkpointEveryRounds: options.checkpointEveryRounds,
    checkpointEveryMs: options.checkpointEveryMs,
    log,
    retainVersions: options.retainVersions,
    hooks: {
      onEpochEnd,
      onCheckpoint: (_round, reason) => checkpoint(reason, null),
      onMembership: (change) => reporter.membership(change),
      onContributionRefused: (refusal) => reporter.contributionChecked(refusal),
      onContributionClipped: (clipped) => reporter.contributionClipped(clipped),
      onBatchAtFault: (b) => reporter.batchAtFault(b),
      onDirectionQuarantine: (q) => reporter.directionQuarantine(q, contributionCheck!.o),
      onRoundClosed: (summary) => reporter.roundClosed(summary, data.train.count),
    },
    ...(resume ? { resume } : {}),
  });
  if (sharding) {
    // Every aggregator starts from this master (fresh, or the checkpoint's on a resume): the same values, momentum and step count.
    await sharding.peers.load(config.runId, config, {
      params,
      momentum,
      version: controller.currentVersion,
      optimizerSteps: resume?.optimizerSteps ?? 0,
    });
    gatheredVersion = controller.currentVersion;
  }
  reporter.started({
    workers: config.workers,
    model: config.model,
    epochs: config.epochs,
    batchSize: config.batchSize,
    syncEvery: config.syncEvery,
    trainSamples: data.train.count,
    testSamples: data.test.count,
    totalSteps: plan.totalSteps,
    version: controller.currentVersion,
    resumed: options.resume,
  });
  return {
    controller,
    layout,
    vectors,
    runDir: record.path,
    shardMap: sharding
      ? sharding.plan.map((slice, k) => ({ address: k === 0 ? '' : sharding.addresses[k - 1]!, tensors: slice.tensors }))
      : [],
    ...(sharding ? { shardZero: sharding.plan[0]!, isWhole: (version: number) => version === gatheredVersion } : {}),
    finishShards: async (reason) => {
      await sharding?.peers.finish(reason);
    },
    checkpointStop: async () => {
      // An epoch end (or a periodic checkpoint) just wrote this state: a second copy would only publish it again.
      if (saved?.version === controller.currentVersion && saved.round === controller.snapshot().round) {
        log.info({ version: saved.version, round: saved.round }, 'checkpoint already up to date');
        return false;
      }
      await checkpoint('stop', null, true);
      return true;
    },
    scoreLastEpoch: async () => {
      const end = lastEpochEnd;
      const snap = controller.snapshot();
      // The master moved on (it cannot after the last epoch end): nothing here is that version any more.
      if (!end || snap.version !== end.version) return null;
      // best/ is the evaluator's: only a better score replaces it.
      const meta = await readOptionalRecordFile(join(record.bestDir, META_JSON), bestModelMetaSchema);
      if (meta) best = { epoch: meta.epoch, accuracy: meta.accuracy };
      const lost = await scoreEpoch(end.training, end.version, snap.params);
      if (lost) throw stopOn(lost, "the run's last epoch, scored by the coordinator");
      return { version: end.version, epoch: end.training.epoch };
    },
    close: () => {
      controller.close('shutdown');
      model.dispose();
      tf.disposeVariables();
    },
  };
}

/**
 * --shards K > 1: the byte-balanced map (shard 0 is this coordinator's) and
 * the clients of the K-1 aggregators; null for one aggregator.
 */
async function shardsOf(
  options: CoordinatorOptions,
  layout: readonly WeightSlice[],
  log: Logger,
): Promise<{ plan: ShardSlice[]; peers: ShardPeers; addresses: string[] } | null> {
  const s = options.shards;
  if (!s) return null;
  const k = (s.aggregators instanceof AggregatorJoins ? s.aggregators.expected : s.aggregators.length) + 1;
  if (k === 1) return null;
  if (options.config.freezeEpochs > 0)
    throw new FlagError('--shards', k, '--shards with --freeze-epochs is not supported: a frozen phase exchanges a subset of the tensors');
  // Checked before waiting for anyone to join: a K the model cannot take fails at once.
  const plan = assignShards(layout, k);
  let addresses: string[];
  if (s.aggregators instanceof AggregatorJoins) {
    log.info({ expected: k - 1, joined: s.aggregators.count }, 'waiting for the aggregators to join');
    addresses = await s.aggregators.addresses();
  } else addresses = s.aggregators;
  log.info({ shards: plan.map((p) => ({ shard: p.shard, tensors: p.tensors.length, floats: p.floats })) }, 'parameters sharded');
  return { plan, peers: new ShardPeers(layout, plan, addresses, s.channel, log), addresses };
}

/** The run checkpoint's state as the coordinator writes it: the common fields, its rounds' counters and the sampler. */
interface CheckpointState extends RunCheckpointState {
  writer: 'coordinator';
  version: number;
  round: number;
  optimizerSteps: number;
  epochTotals: EpochTotals;
  sampler: unknown;
  /** The contribution check's norm window (absent when the check is off, and in older checkpoints). */
  contributionWindow?: NormWindowState;
}
