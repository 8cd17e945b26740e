import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { selectBackend } from '../../src/compute/index.js';
import { planTraining, type TrainConfig } from '../../src/runtime/config/train-config.js';
import { loadCifar10 } from '../../src/dataset/index.js';
import { buildModel, saveModelFiles } from '../../src/model/index.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { openRunDir } from '../../src/runtime/run-dir.js';
import { evaluate } from '../../src/training/evaluate.js';
import { layoutLength, readWeights, weightLayout, writeWeights, type WeightSlice } from '../../src/training/flat-weights.js';
import { testBatches } from '../../src/training/train-batch.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint/checkpoint-file.js';
import { RoundController, type EpochTotals } from './rounds/round-controller.js';
import { AppliedLedger, EpochSampler } from './sampler/index.js';
import type { RunReporter } from './telemetry/run-reporter.js';
import { VectorMemory } from '../../src/compute/vector-math/index.js';
import { SINK_SCRATCH_FLOATS } from './rpc/coordinator-server.js';

export interface CoordinatorOptions {
  config: TrainConfig;
  resume: boolean;
  roundTimeoutMs: number;
  heartbeatTimeoutMs: number;
  checkpointEveryRounds: number;
  /** Keep a per-index ledger and write it at each epoch end (tests, debugging). */
  ledger: boolean;
  /** An evaluator service scores the checkpoints (fleet evaluator); else the coordinator scores the test set at epoch ends. */
  externalEvaluator: boolean;
  /** Checkpoint versions kept fetchable for the evaluator. */
  retainVersions: number;
  reporter: RunReporter;
}

const NUM_CLASSES = 10;
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
export const CHECKPOINT_FILE = 'checkpoint.fleet';

/**
 * Everything of a coordinator but the network: the master model, the sampler,
 * the rounds, and what happens at epoch ends (the test set scored, a metrics
 * line, the best model, a checkpoint). Until the evaluator service exists the
 * coordinator scores the test set itself.
 */
export async function createCoordinator(options: CoordinatorOptions, log: Logger): Promise<{ controller: RoundController; layout: WeightSlice[]; vectors: VectorMemory; runDir: string; close: () => void }> {
  const { config, reporter } = options;
  await selectBackend(config.backend, log);
  const data = await loadCifar10({
    dir: config.dataDir, allowPartial: config.allowPartial,
    ...(config.limitTrain !== null ? { limitTrain: config.limitTrain } : {}),
    ...(config.limitTest !== null ? { limitTest: config.limitTest } : {}),
  });
  const plan = planTraining(config, data.train.count);
  const runDir = await openRunDir(config.outDir);
  const checkpointPath = join(runDir.path, CHECKPOINT_FILE);
  const model = buildModel({ name: config.model, seed: config.seed });
  const layout = weightLayout(model);
  const ledger = options.ledger ? new AppliedLedger(data.train.count) : undefined;

  let params: Float32Array = readWeights(model, layout, new Float32Array(layoutLength(layout)));
  let momentum: Float32Array = new Float32Array(params.length);
  let sampler = new EpochSampler({ seed: config.seed, count: data.train.count, batchSize: config.batchSize, syncEvery: config.syncEvery, epoch: 1 }, ledger ? { ledger } : {});
  let resume: ConstructorParameters<typeof RoundController>[0]['resume'];
  let best = { epoch: 0, accuracy: -1 };
  if (options.resume) {
    const loaded = await readCheckpoint(checkpointPath);
    const s = loaded.header.state as unknown as CheckpointState;
    params = loaded.arrays.params!;
    momentum = loaded.arrays.momentum!;
    sampler = EpochSampler.fromState(s.sampler, { count: data.train.count }, ledger ? { ledger } : {});
    let epochTotals = s.epochTotals;
    if (sampler.epochDone) {
      // Written at an epoch end (its metrics line, best/ and ledger were written before it).
      if (sampler.epoch >= config.epochs) throw new RunAlreadyFinishedError(checkpointPath, sampler.epoch);
      sampler.nextEpoch();
      epochTotals = { epoch: sampler.epoch, samples: 0, lossSum: 0, correct: 0 };
    }
    // The ledger counts what the checkpoint had applied of this epoch, so it still checks the whole epoch.
    ledger?.record(sampler.epoch, sampler.appliedIndices());
    // This epoch's end comes again: a line the crashed process wrote for it after the checkpoint goes.
    if (!options.externalEvaluator) await runDir.keepMetricsBefore(sampler.epoch);
    resume = { version: s.version, globalStep: s.globalStep, round: s.round, optimizerSteps: s.optimizerSteps, epochTotals };
    best = s.best;
    log.info({ version: s.version, round: s.round, epoch: sampler.epoch, file: checkpointPath }, 'resumed from checkpoint');
  } else {
    await runDir.writeConfig({ config, plan, data: { train: data.train.count, test: data.test.count, classNames: data.classNames } });
  }

  const checkpoint = async (reason: string, epochEnd: EpochTotals | null) => {
    const snap = controller.snapshot();
    const state: CheckpointState = {
      config, version: snap.version, globalStep: snap.globalStep, round: snap.round, optimizerSteps: snap.optimizerSteps,
      epochTotals: snap.epochTotals, sampler: snap.sampler, best,
    };
    await writeCheckpoint(checkpointPath, state as unknown as Record<string, unknown>, { params: snap.params, momentum: snap.momentum });
    controller.retainCurrentVersion();
    log.info({ round: snap.round, version: snap.version, reason }, 'checkpoint written');
    reporter.checkpoint({
      version: snap.version, round: snap.round, epoch: epochEnd?.epoch ?? snap.epochTotals.epoch, globalStep: snap.globalStep, epochEnd: epochEnd !== null,
      trainLoss: epochEnd ? epochEnd.lossSum / Math.max(1, epochEnd.samples) : null,
      trainAccuracy: epochEnd ? epochEnd.correct / Math.max(1, epochEnd.samples) : null,
      trainSamples: epochEnd ? epochEnd.samples : null,
    });
  };

  const onEpochEnd = async (totals: EpochTotals, version: number) => {
    reporter.epochEnded(totals, version, controller.snapshot().globalStep);
    if (options.externalEvaluator) {
      // The evaluator scores this checkpoint and writes the metrics line and best/.
      if (ledger) await runDir.writeJson(`applied-epoch-${totals.epoch}.json`, ledger.report(totals.epoch));
      await checkpoint('epoch end', totals);
      return;
    }
    const evalStarted = performance.now();
    writeWeights(model, layout, controller.snapshot().params);
    const evaluation = await evaluate(model, data.test, testBatches(data.test), { batchSize: config.evalBatchSize, numClasses: NUM_CLASSES });
    const metrics = {
      epoch: totals.epoch, version, step: controller.snapshot().globalStep,
      trainLoss: totals.lossSum / Math.max(1, totals.samples), trainAccuracy: totals.correct / Math.max(1, totals.samples), trainSamples: totals.samples,
      testLoss: evaluation.loss, testAccuracy: evaluation.accuracy, perClassAccuracy: evaluation.perClassAccuracy,
      members: controller.memberCount(), time: new Date().toISOString(),
    };
    await runDir.appendMetrics({ ...metrics, confusion: evaluation.confusion });
    log.info({ epoch: totals.epoch, version, trainLoss: metrics.trainLoss, testAccuracy: metrics.testAccuracy }, 'epoch done');
    const isBest = evaluation.accuracy > best.accuracy;
    if (isBest) {
      best = { epoch: totals.epoch, accuracy: evaluation.accuracy };
      await saveModelFiles(model, runDir.bestDir, {
        epoch: totals.epoch, version, accuracy: evaluation.accuracy, loss: evaluation.loss,
        perClassAccuracy: evaluation.perClassAccuracy, classNames: data.classNames, config,
      });
    }
    reporter.evaluated({
      version, epoch: totals.epoch, globalStep: metrics.step, epochEnd: true, accuracy: evaluation.accuracy, loss: evaluation.loss,
      samples: data.test.count, perClassAccuracy: evaluation.perClassAccuracy, confusion: evaluation.confusion,
      evalMs: performance.now() - evalStarted, best: isBest,
    });
    if (isBest) reporter.best({ version, epoch: totals.epoch, accuracy: evaluation.accuracy, path: runDir.bestDir });
    if (ledger) {
      await runDir.writeJson(`applied-epoch-${totals.epoch}.json`, ledger.report(totals.epoch));
    }
    await checkpoint('epoch end', totals);
  };

  const vectors = coordinatorVectorMemory(params.length);
  params = vectors.adopt(params);
  momentum = vectors.adopt(momentum);
  const controller = new RoundController({
    config, plan, layout, params, momentum, sampler, vectors,
    expectedWorkers: config.workers,
    roundTimeoutMs: options.roundTimeoutMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    checkpointEveryRounds: options.checkpointEveryRounds,
    log,
    retainVersions: options.retainVersions,
    hooks: {
      onEpochEnd, onCheckpoint: () => checkpoint('every N rounds', null),
      onMembership: (change) => reporter.membership(change),
      onRoundClosed: (summary) => reporter.roundClosed(summary, data.train.count),
    },
    ...(resume ? { resume } : {}),
  });
  reporter.started({
    workers: config.workers, model: config.model, epochs: config.epochs, batchSize: config.batchSize, syncEvery: config.syncEvery,
    trainSamples: data.train.count, testSamples: data.test.count, totalSteps: plan.totalSteps,
    version: controller.currentVersion, resumed: options.resume,
  });
  return { controller, layout, vectors, runDir: runDir.path, close: () => { controller.close('shutdown'); model.dispose(); tf.disposeVariables(); } };
}

/** --resume of a run whose checkpoint is its last epoch's end: there is nothing left to train. */
export class RunAlreadyFinishedError extends FleetError {
  constructor(readonly file: string, readonly epoch: number) {
    super(`nothing to resume: ${file} was written at the end of the run's last epoch (${epoch})`);
  }
}

/**
 * On --resume the run's config is the checkpoint's (run id, model, schedule,
 * seed...); only what belongs to this machine comes from the flags.
 */
export async function configForResume(flags: TrainConfig): Promise<TrainConfig> {
  const { header } = await readCheckpoint(join(flags.outDir, CHECKPOINT_FILE));
  const saved = (header.state as unknown as CheckpointState).config;
  return { ...saved, outDir: flags.outDir, dataDir: flags.dataDir, backend: flags.backend, progress: flags.progress, evalBatchSize: flags.evalBatchSize };
}

interface CheckpointState {
  config: TrainConfig;
  version: number;
  globalStep: number;
  round: number;
  optimizerSteps: number;
  epochTotals: EpochTotals;
  sampler: unknown;
  best: { epoch: number; accuracy: number };
}
