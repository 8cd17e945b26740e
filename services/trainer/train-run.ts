import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/compute/index.js';
import { ConfigError, peakLearningRate, planTraining, type TrainConfig, type TrainPlan } from '../../src/runtime/config/train-config.js';
import { IMAGE_SHAPE, NUM_CLASSES, ensureCifar10, loadRunData } from '../../src/dataset/index.js';
import { buildModel, countParameters } from '../../src/model/index.js';
import type { Logger } from '../../src/runtime/logger.js';
import { onStopSignal } from '../../src/runtime/stop-signals.js';
import { createProgress } from '../../src/runtime/progress.js';
import { epochPermutation } from '../../src/training/epoch-order.js';
import { InterruptedError, TrainingDivergedError } from '../../src/training/errors.js';
import { scoreTestSet, type Evaluation, type TestSplit } from '../../src/training/evaluate.js';
import { learningRateAt } from '../../src/training/lr-schedule.js';
import { trainableParameters } from '../../src/training/model-parameters.js';
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
import { TrainBatchMaker } from '../../src/training/train-batch.js';
import { computeGradients } from '../../src/training/train-step.js';
import { readableScore } from '../../src/training/run-record/score-tables.js';

export interface RunSummary {
  runDir: string;
  plan: TrainPlan;
  epochs: MetricsLine[];
  best: { epoch: number; accuracy: number } | null;
}

/**
 * One process trains the whole model (`fleet train --workers 1`): load data,
 * then per epoch a seeded order, augmented batches, gradient steps with SGD
 * under a warm-up + cosine schedule, a full test-set evaluation, a metrics
 * line, and the best model saved whenever test accuracy improves.
 */
export async function runTraining(config: TrainConfig, rootLog: Logger): Promise<RunSummary> {
  if (config.workers !== 1) {
    throw new ConfigError([
      { key: 'workers', flag: '--workers', value: config.workers, message: 'this build trains in one process; use --workers 1' },
    ]);
  }
  const log = rootLog.child({ worker: 0 });
  log.info({ config }, 'configuration');
  const backend = await selectBackend(config.backend, log, { threads: config.threads });

  if (config.download) await ensureCifar10({ dir: config.dataDir, allowPartial: config.allowPartial, log });
  const data = await loadRunData(config);
  const plan = planTraining(config, data.train.count);
  log.info({ train: data.train.count, test: data.test.count, ...plan }, 'data loaded');

  const record = await openRunRecord(config.outDir);
  await record.writeConfig(
    runConfigRecord(config, backend.name, { plan, train: data.train.count, test: data.test.count, classNames: data.classNames }),
  );

  const model = buildModel({ name: config.model, seed: config.seed });
  log.info({ model: config.model, parameters: countParameters(model) }, 'model built');
  const params = trainableParameters(model);
  const optimizer = new SgdMomentum({ momentum: config.momentum, weightDecay: config.weightDecay });
  const batches = new TrainBatchMaker(data.train, config, NUM_CLASSES);
  const progress = createProgress(config.progress, log);

  let interrupted: string | null = null;
  const stopListening = onStopSignal((signal) => {
    interrupted = signal;
  });

  const summary: RunSummary = { runDir: record.path, plan, epochs: [], best: null };
  let globalStep = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const epochLog = log.child({ epoch });
      const order = epochPermutation(config.seed, epoch, data.train.count);
      const started = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = 0;
      progress.start(`epoch ${epoch}/${config.epochs}`, plan.stepsPerEpoch, { epoch });
      for (let step = 0; step < plan.stepsPerEpoch; step++) {
        // A step is synchronous compute: yield so logs flush and signals land.
        await yieldToEventLoop();
        if (interrupted) throw new InterruptedError(interrupted);
        const indices = order.subarray(step * config.batchSize, (step + 1) * config.batchSize);
        lr = learningRateAt(globalStep, {
          baseLr: peakLearningRate(config),
          minLr: config.minLr,
          warmupSteps: plan.warmupSteps,
          totalSteps: plan.totalSteps,
        });
        const batch = batches.make(indices, epoch, globalStep);
        const result = tf.tidy(() => {
          const x = tf.tensor4d(batch.x, [indices.length, ...IMAGE_SHAPE]);
          const targets = tf.tensor2d(batch.targets, [indices.length, NUM_CLASSES]);
          const out = computeGradients(model, params, { x, targets, labels: batch.labels });
          if (!Number.isFinite(out.loss)) throw new TrainingDivergedError(epoch, step, out.loss);
          optimizer.apply(params, out.grads, lr);
          return { loss: out.loss, correct: out.correct };
        });
        lossSum += result.loss * indices.length;
        correct += result.correct;
        seen += indices.length;
        globalStep++;
        epochLog.debug({ step: globalStep, loss: result.loss, samples: indices.length }, 'step done');
        const seconds = (performance.now() - started) / 1000;
        progress.update(step + 1, { loss: lossSum / seen, acc: correct / seen, lr, 'img/s': Math.round((seen / seconds) * 10) / 10 });
      }
      progress.stop();
      const epochSeconds = (performance.now() - started) / 1000;

      const evaluation = await runEvaluation(model, data.test, config, progress, epoch);
      const training = epochTraining(
        { epoch, samples: seen, lossSum, correct },
        { step: globalStep, lr, epochSeconds, imagesPerSecond: rate(seen, epochSeconds) },
      );
      const metrics = metricsLine(training, evaluation);
      summary.epochs.push(metrics);
      await record.recordEpoch(metrics);
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

      if (!summary.best || evaluation.accuracy > summary.best.accuracy) {
        summary.best = { epoch, accuracy: evaluation.accuracy };
        await record.saveBest(model, bestModelMeta({ config, classNames: data.classNames, evaluation, epoch, step: globalStep }));
        epochLog.info({ accuracy: evaluation.accuracy, dir: record.bestDir }, 'new best model saved');
      }
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
