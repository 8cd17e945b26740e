import * as tf from '@tensorflow/tfjs';
import { IMAGE_SHAPE, NUM_CLASSES } from '../dataset/cifar10-constants.js';
import { writeWeights, type WeightSlice } from './flat-weights.js';
import { testBatches } from './train-batch.js';

export interface Evaluation {
  count: number;
  accuracy: number;
  loss: number;
  perClassAccuracy: number[];
  /** confusion[trueClass][predictedClass] = count. */
  confusion: number[][];
}

/** Supplies normalised test images for a range of the split, NHWC float32. */
export type EvalBatches = (start: number, end: number) => Float32Array;

/**
 * Scores a model on every test sample exactly once (no padding, no
 * augmentation), in inference mode. Accuracy and loss are sums over counts,
 * never averages of batch averages. Yields to the event loop between batches:
 * a coordinator evaluating for minutes must still answer heartbeats and
 * HTTP/2 pings, and a trainer its signals. An aborted `signal` ends it
 * there (throwing its reason): an evaluator gives up a score that a newer
 * checkpoint has made pointless.
 */
export async function evaluate(
  model: tf.LayersModel,
  split: { count: number; labels: Uint8Array },
  batches: EvalBatches,
  options: { batchSize: number; numClasses: number; onProgress?: (done: number) => void; signal?: AbortSignal },
): Promise<Evaluation> {
  const { batchSize, numClasses } = options;
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < split.count; start += batchSize) {
    options.signal?.throwIfAborted();
    const end = Math.min(split.count, start + batchSize);
    const n = end - start;
    const labels = split.labels.subarray(start, end);
    const [predicted, losses] = tf.tidy(() => {
      const x = tf.tensor4d(batches(start, end), [n, ...IMAGE_SHAPE]);
      const logits = model.predict(x) as tf.Tensor2D;
      const logp = tf.logSoftmax(logits);
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), numClasses)), -1);
      return [tf.argMax(logits, -1).dataSync(), tf.neg(picked).dataSync()];
    });
    for (let i = 0; i < n; i++) {
      const truth = labels[i]!;
      const guess = predicted[i]!;
      confusion[truth]![guess]! += 1;
      if (truth === guess) correct++;
      lossSum += losses[i]!;
    }
    options.onProgress?.(end);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const perClassAccuracy = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? Number.NaN : row[c]! / total;
  });
  return { count: split.count, accuracy: correct / split.count, loss: lossSum / split.count, perClassAccuracy, confusion };
}

/** A labelled split as the dataset loads it: raw HWC bytes and one label per image. */
export interface TestSplit {
  count: number;
  images: Uint8Array;
  labels: Uint8Array;
}

/**
 * Scores a parameter version on the test set: the one scoring of every run
 * (one process at each epoch end, the coordinator, the evaluator). With
 * `weights`, the flat parameters are written into `model` first; without, the
 * model is scored as it stands.
 */
export function scoreTestSet(
  model: tf.LayersModel,
  test: TestSplit,
  options: {
    batchSize: number;
    weights?: { layout: readonly WeightSlice[]; values: Float32Array };
    onProgress?: (done: number) => void;
    signal?: AbortSignal;
  },
): Promise<Evaluation> {
  if (options.weights) writeWeights(model, options.weights.layout, options.weights.values);
  return evaluate(model, test, testBatches(test), {
    batchSize: options.batchSize,
    numClasses: NUM_CLASSES,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
