import { z } from 'zod';
import { NUM_CLASSES } from '../../dataset/cifar10-constants.js';
import type { Evaluation } from '../evaluate.js';

const count = z.number().int().min(0);
const fraction = z.number().min(0).max(1);

/**
 * How an epoch trained, the first half of its metrics line. The same fields
 * whichever process trained; `workers` and `version` only where a coordinator
 * applied the steps.
 */
export const epochTrainingSchema = z.object({
  epoch: z.number().int().min(1),
  /** Optimizer steps applied since the start of the run. */
  step: count,
  /** The learning rate of the epoch's last step (a distributed run: of its last round). */
  lr: z.number().min(0),
  trainLoss: z.number().finite(),
  trainAccuracy: fraction,
  trainSamples: count,
  /** Time spent training the epoch: neither the scoring nor checkpoint writes. */
  epochSeconds: z.number().min(0),
  imagesPerSecond: z.number().min(0),
  /** Members of the run at the epoch's end. */
  workers: z.number().int().min(1).optional(),
  /** The parameter version scored. */
  version: count.optional(),
});

export type EpochTraining = z.infer<typeof epochTrainingSchema>;

/** One line of metrics.jsonl: an epoch's training and the test-set score of the parameters it ended with. */
export const metricsLineSchema = epochTrainingSchema
  .extend({
    testLoss: z.number().finite(),
    testAccuracy: fraction,
    /** Null for a class the test set has no image of. */
    perClassAccuracy: z.array(fraction.nullable()).length(NUM_CLASSES),
    /** confusion[trueClass][predictedClass] = count. */
    confusion: z.array(z.array(count).length(NUM_CLASSES)).length(NUM_CLASSES),
    /** When the line was written (ISO-8601). */
    time: z.string().datetime(),
  })
  .strict();

export type MetricsLine = z.infer<typeof metricsLineSchema>;

/** Training totals as they are summed: per-sample loss and correct counts, never averages of averages. */
export interface EpochTotals {
  epoch: number;
  samples: number;
  lossSum: number;
  correct: number;
}

/** The training half of a line from an epoch's sums and its clock. */
export function epochTraining(
  totals: EpochTotals,
  o: { step: number; lr: number; epochSeconds: number; imagesPerSecond: number; workers?: number; version?: number },
): EpochTraining {
  const samples = Math.max(1, totals.samples);
  return {
    epoch: totals.epoch,
    step: o.step,
    lr: o.lr,
    trainLoss: totals.lossSum / samples,
    trainAccuracy: totals.correct / samples,
    trainSamples: totals.samples,
    epochSeconds: o.epochSeconds,
    imagesPerSecond: o.imagesPerSecond,
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.version !== undefined ? { version: o.version } : {}),
  };
}

/** Samples per second, 0 for an epoch that took no measurable time. */
export function rate(samples: number, seconds: number): number {
  return seconds > 0 ? samples / seconds : 0;
}

/** An epoch's metrics line: its training and the evaluation of its last parameters. */
export function metricsLine(training: EpochTraining, evaluation: Evaluation, now = new Date()): MetricsLine {
  return {
    ...training,
    testLoss: evaluation.loss,
    testAccuracy: evaluation.accuracy,
    perClassAccuracy: perClassAccuracyOf(evaluation),
    confusion: evaluation.confusion,
    time: now.toISOString(),
  };
}

/** JSON has no NaN: a class without test images is null on disk, and so in the record. */
export function perClassAccuracyOf(evaluation: Evaluation): (number | null)[] {
  return evaluation.perClassAccuracy.map((a) => (Number.isNaN(a) ? null : a));
}
