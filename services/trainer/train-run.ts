import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/compute/index.js';
import { ConfigError, peakLearningRate, planTraining, type TrainConfig, type TrainPlan } from '../../src/runtime/config/train-config.js';
import { IMAGE_SHAPE, NUM_CLASSES, downloadIfAsked, loadRunData } from '../../src/dataset/index.js';
import { buildModel, countParameters, importSummary, loadTorchvisionResNet } from '../../src/model/index.js';
import type { Logger } from '../../src/runtime/logger.js';
import { onStopSignal } from '../../src/runtime/stop-signals.js';
import { createProgress } from '../../src/runtime/progress.js';
import { epochPermutation } from '../../src/training/epoch-order.js';
import { InterruptedError, TrainingDivergedError } from '../../src/training/errors.js';
import { scoreTestSet, type Evaluation, type TestSplit } from '../../src/training/evaluate.js';
import { trainableParameters } from '../../src/training/model-parameters.js';
import { phasedLearningRate, trainableSetFor } from '../../src/training/trainable-set.js';
import { initFromModel } from '../../src/training/init-from.js';
import { SgdMomentum } from '../../src/training/sgd-momentum.js';
import {
  bestModelMeta,
  epochTraining,
  metricsLine,
  openRunRecord,
  rate,
  runConfigRecord,
  type MetricsLine,
} from '../../src/training/run-record/index.js';
import type { EpochTotals } from '../../src/training/run-record/metrics-line.js';
import { TrainBatchMaker } from '../../src/training/train-batch.js';
import { checkpointPathOf, logEpochsChange, RunAlreadyFinishedError } from '../../src/training/checkpoint/run-checkpoint.js';
import { weightLayout } from '../../src/training/flat-weights.js';
import { dropoutCalls, readTrainerCheckpoint, writeTrainerCheckpoint, type TrainerCheckpointState } from './trainer-checkpoint.js';
import { computeGradients } from '../../src/training/train-step.js';
import { readableScore } from '../../src/training/run-record/score-tables.js';
import { DiskWrites, MAX_CONSECUTIVE_CHECKPOINT_FAILURES, WriteFailedError, type WriteFailure } from '../../src/runtime/disk-writes.js';
import { METRICS_JSONL } from '../../src/runtime/run-dir.js';
import { join } from 'node:path';

export interface RunSummary {
  runDir: string;
  plan: TrainPlan;
  epochs: MetricsLine[];
  best: { epoch: number; accuracy: number } | null;
}

export interface TrainingOptions {
  /** Continue from --out's checkpoint.fleet (config: the run keys resumed from it, see resumePoint). */
  resume: boolean;
  /** A checkpoint every N optimizer steps as well as at each epoch end; 0: epoch ends only. */
  checkpointEverySteps: number;
}

/**
 * One process trains the whole model (`fleet train --workers 1`): load data,
 * then per epoch a seeded order, augmented batches, gradient steps with SGD
 * under a warm-up + cosine schedule, a full test-set evaluation, a metrics
 * line, the best model saved whenever test accuracy improves, and a
 * checkpoint (every N steps and at each epoch end) a resumed run continues
 * from to the same weights an uninterrupted run reaches.
 */
export async function runTraining(
  config: TrainConfig,
  rootLog: Logger,
  options: TrainingOptions = { resume: false, checkpointEverySteps: 0 },
): Promise<RunSummary> {
  if (config.workers !== 1) {
    throw new ConfigError([
      { key: 'workers', flag: '--workers', value: config.workers, message: 'this build trains in one process; use --workers 1' },
    ]);
  }
  const log = rootLog.child({ worker: 0 });
  log.info({ config }, 'configuration');
  const backend = await selectBackend(config.backend, log, { threads: config.threads });

  await downloadIfAsked(config, log);
  const data = await loadRunData(config);
  const plan = planTraining(config, data.train.count);
  log.info({ train: data.train.count, test: data.test.count, ...plan }, 'data loaded');

  const record = await openRunRecord(config.outDir);
  const checkpointPath = checkpointPathOf(record.path);
  const writeConfig = () =>
    record.writeConfig(
      runConfigRecord(config, backend.name, { plan, train: data.train.count, test: data.test.count, classNames: data.classNames }),
    );

  const model = buildModel({ name: config.model, seed: config.seed, stem: config.stem });
  log.info({ model: config.model, parameters: countParameters(model) }, 'model built');
  // A resumed run's weights come from its checkpoint; --init-from only seeds a fresh start.
  if (config.initFrom !== null && !options.resume)
    log.info(await initFromModel(model, config.initFrom), 'weights initialised from an earlier model');
  // ImageNet weights for a fresh start (workers fetch them from the master copy); conv1/fc skipped where the stem and head are new.
  if (config.pretrained !== null && !options.resume)
    log.info(importSummary(config.pretrained, loadTorchvisionResNet(model, config.pretrained)), 'pretrained weights loaded');
  const params = trainableParameters(model);
  const optimizer = new SgdMomentum({ momentum: config.momentum, weightDecay: config.weightDecay });
  const layout = weightLayout(model);
  const batches = new TrainBatchMaker(data.train, config, NUM_CLASSES);
  const progress = createProgress(config.progress, log);

  // Where training starts: epoch 1 step 0, or the checkpoint's cursor.
  let start = { epoch: 1, step: 0, globalStep: 0, totals: freshTotals(1), epochSeconds: 0 };
  let best = { epoch: 0, accuracy: -1 };
  if (options.resume) {
    const s = await readTrainerCheckpoint(checkpointPath, { model, layout, optimizer }, plan);
    best = s.best;
    start = s.epochDone
      ? { epoch: s.epochTotals.epoch + 1, step: 0, globalStep: s.globalStep, totals: freshTotals(s.epochTotals.epoch + 1), epochSeconds: 0 }
      : { epoch: s.epochTotals.epoch, step: s.step, globalStep: s.globalStep, totals: { ...s.epochTotals }, epochSeconds: s.epochSeconds };
    if (start.epoch > config.epochs) throw new RunAlreadyFinishedError(checkpointPath, s.epochTotals.epoch);
    if (s.config.epochs !== config.epochs) {
      logEpochsChange(log, s.config.epochs, config.epochs, plan);
      await writeConfig();
    }
    // This epoch's end comes again: a line the stopped process wrote for it after the checkpoint goes.
    await record.keepMetricsBefore(start.epoch);
    log.info({ epoch: start.epoch, step: start.step, globalStep: start.globalStep, file: checkpointPath }, 'resumed from checkpoint');
  } else {
    await writeConfig();
  }

  let interrupted: string | null = null;
  const stopListening = onStopSignal((signal) => {
    interrupted = signal;
  });

  const schedule = {
    peakLr: peakLearningRate(config),
    fineTuneLr: config.fineTuneLr === null ? null : peakLearningRate({ ...config, lr: config.fineTuneLr }),
    minLr: config.minLr,
    warmupSteps: plan.warmupSteps,
    totalSteps: plan.totalSteps,
    stepsPerEpoch: plan.stepsPerEpoch,
    freezeEpochs: config.freezeEpochs,
  };
  const summary: RunSummary = { runDir: record.path, plan, epochs: [], best: best.epoch > 0 ? best : null };
  let globalStep = start.globalStep;
  // A full disk (ENOSPC, EIO...): the previous file stays, the failure is logged, training goes on (as the coordinator's).
  const writes = new DiskWrites(log);
  const stopOn = (f: WriteFailure, reason: string) => new WriteFailedError(f.what, f.path, f.code, reason);
  /** `mustWrite`: the run's last checkpoint, or a stop's: its failure ends the run with WriteFailedError. */
  const checkpoint = async (
    state: Omit<TrainerCheckpointState, 'writer' | 'config' | 'globalStep' | 'best' | 'rng'>,
    reason: string,
    mustWrite = false,
  ) => {
    const full: TrainerCheckpointState = {
      writer: 'trainer',
      config,
      globalStep,
      best,
      rng: { dropoutCalls: dropoutCalls(model) },
      ...state,
    };
    const failed = await writes.attempt('checkpoint', checkpointPath, { epoch: state.epochTotals.epoch }, () =>
      writeTrainerCheckpoint(checkpointPath, full, { model, layout, optimizer }),
    );
    if (failed) {
      if (mustWrite) throw stopOn(failed, `the run's ${reason.startsWith('signal') ? 'stop' : 'last'} checkpoint`);
      if (failed.consecutive >= MAX_CONSECUTIVE_CHECKPOINT_FAILURES)
        throw stopOn(failed, `${failed.consecutive} checkpoints in a row failed`);
      return;
    }
    log.info({ epoch: state.epochTotals.epoch, step: state.step, globalStep, reason }, 'checkpoint written');
  };
  try {
    for (let epoch = start.epoch; epoch <= config.epochs; epoch++) {
      const epochLog = log.child({ epoch });
      const order = epochPermutation(config.seed, epoch, data.train.count);
      const resumed = epoch === start.epoch ? start : null;
      const totals = resumed ? { ...resumed.totals } : freshTotals(epoch);
      // Time before a resume counts, so the epoch's images/s is its training's.
      const started = performance.now() - (resumed?.epochSeconds ?? 0) * 1000;
      let lr = 0;
      // What trains this epoch: a function of (config, epoch), so a resume mid-freeze trains the same set.
      const trainable = trainableSetFor(model, params, config, epoch);
      if (epoch === start.epoch || epoch === config.freezeEpochs + 1) {
        epochLog.info({ phase: trainable.phase, trainableTensors: trainable.params.size, of: params.size }, 'trainable set');
      }
      progress.start(`epoch ${epoch}/${config.epochs}`, plan.stepsPerEpoch, { epoch });
      for (let step = resumed?.step ?? 0; step < plan.stepsPerEpoch; step++) {
        // A step is synchronous compute: yield so logs flush and signals land.
        await yieldToEventLoop();
        if (interrupted) {
          // Between steps the state is whole: keep it, so --resume loses nothing of a stopped run.
          const seconds = (performance.now() - started) / 1000;
          await checkpoint({ epochTotals: { ...totals }, epochDone: false, step, epochSeconds: seconds }, `signal ${interrupted}`, true);
          throw new InterruptedError(interrupted);
        }
        const indices = order.subarray(step * config.batchSize, (step + 1) * config.batchSize);
        lr = phasedLearningRate(globalStep, schedule);
        const batch = batches.make(indices, epoch, globalStep);
        const result = tf.tidy(() => {
          const x = tf.tensor4d(batch.x, [indices.length, ...IMAGE_SHAPE]);
          const targets = tf.tensor2d(batch.targets, [indices.length, NUM_CLASSES]);
          const out = computeGradients(model, trainable.params, { x, targets, labels: batch.labels }, { training: trainable.training });
          if (!Number.isFinite(out.loss)) throw new TrainingDivergedError(epoch, step, out.loss);
          optimizer.apply(trainable.params, out.grads, lr);
          return { loss: out.loss, correct: out.correct };
        });
        totals.lossSum += result.loss * indices.length;
        totals.correct += result.correct;
        totals.samples += indices.length;
        globalStep++;
        epochLog.debug({ step: globalStep, loss: result.loss, samples: indices.length }, 'step done');
        const seconds = (performance.now() - started) / 1000;
        const seen = totals.samples;
        progress.update(step + 1, {
          loss: totals.lossSum / seen,
          acc: totals.correct / seen,
          lr,
          'img/s': Math.round((seen / seconds) * 10) / 10,
        });
        // The epoch's last step is followed by the epoch-end checkpoint.
        const every = options.checkpointEverySteps;
        if (every > 0 && globalStep % every === 0 && step + 1 < plan.stepsPerEpoch) {
          await checkpoint({ epochTotals: { ...totals }, epochDone: false, step: step + 1, epochSeconds: seconds }, 'every N steps');
        }
      }
      progress.stop();
      const epochSeconds = (performance.now() - started) / 1000;

      const evaluation = await runEvaluation(model, data.test, config, progress, epoch);
      const training = epochTraining(totals, { step: globalStep, lr, epochSeconds, imagesPerSecond: rate(totals.samples, epochSeconds) });
      const metrics = metricsLine(training, evaluation);
      summary.epochs.push(metrics);
      const metricsFailed = await writes.attempt('metrics', join(record.path, METRICS_JSONL), { epoch }, () => record.recordEpoch(metrics));
      epochLog.info(
        {
          trainLoss: metrics.trainLoss,
          trainAccuracy: metrics.trainAccuracy,
          testAccuracy: metrics.testAccuracy,
          testLoss: metrics.testLoss,
          imagesPerSecond: metrics.imagesPerSecond,
          ...readableScore({ ...evaluation, classNames: data.classNames }),
        },
        'epoch done',
      );

      // Best only once best/ holds it: a best/ the disk refused leaves the previous one, and a later epoch may beat that.
      let bestFailed: WriteFailure | null = null;
      if (evaluation.accuracy > best.accuracy) {
        const meta = bestModelMeta({ config, classNames: data.classNames, evaluation, epoch, step: globalStep });
        bestFailed = await writes.attempt('best', record.bestDir, { epoch }, () => record.saveBest(model, meta));
        if (!bestFailed) {
          best = { epoch, accuracy: evaluation.accuracy };
          summary.best = best;
          epochLog.info({ accuracy: evaluation.accuracy, dir: record.bestDir }, 'new best model saved');
        }
      }
      // The last epoch's line or best model lost: no final checkpoint (a resume would find the run finished).
      const last = epoch >= config.epochs;
      const lost = metricsFailed ?? bestFailed;
      if (last && lost) throw stopOn(lost, "the run's last epoch");
      // After the metrics line and best/: a resume from here starts the next epoch.
      await checkpoint({ epochTotals: totals, epochDone: true, step: plan.stepsPerEpoch, epochSeconds }, 'epoch end', last);
    }
  } finally {
    stopListening();
    progress.stop();
    optimizer.dispose();
    model.dispose();
  }
  log.info({ best: summary.best, runDir: record.path }, 'run finished');
  return summary;
}

function freshTotals(epoch: number): EpochTotals {
  return { epoch, samples: 0, lossSum: 0, correct: 0 };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function runEvaluation(
  model: tf.LayersModel,
  test: TestSplit,
  config: TrainConfig,
  progress: ReturnType<typeof createProgress>,
  epoch: number,
): Promise<Evaluation> {
  progress.start(`eval ${epoch}`, test.count, { epoch, phase: 'eval' });
  const result = await scoreTestSet(model, test, { batchSize: config.evalBatchSize, onProgress: (done) => progress.update(done) });
  progress.stop();
  return result;
}
