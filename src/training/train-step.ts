import * as tf from '@tensorflow/tfjs';
import { softCrossEntropy } from './soft-cross-entropy.js';

export interface StepResult {
  /** Mean loss over the batch. */
  loss: number;
  /** How many predictions matched the primary label. */
  correct: number;
  /** Gradients keyed by variable name; the caller disposes them. */
  grads: tf.NamedTensorMap;
}

/**
 * Forward and backward pass of one batch, by default in training mode
 * (dropout on, BatchNorm on batch statistics and updating its moving
 * averages); `training: false` runs the model in inference mode (a frozen
 * phase, see trainable-set.ts). Gradients are taken for `params` only.
 * Applying them is the optimizer's job, so a worker can ship them instead.
 */
export function computeGradients(
  model: tf.LayersModel,
  params: ReadonlyMap<string, tf.Variable>,
  batch: { x: tf.Tensor4D; targets: tf.Tensor2D; labels: Int32Array },
  options: { training: boolean } = { training: true },
): StepResult {
  let logits: tf.Tensor2D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(batch.x, { training: options.training }) as tf.Tensor2D;
    logits = tf.keep(out);
    return softCrossEntropy(out, batch.targets);
  }, [...params.values()]);
  try {
    const loss = value.dataSync()[0] ?? Number.NaN;
    const correct = countCorrect(logits!, batch.labels);
    return { loss, correct, grads };
  } finally {
    value.dispose();
    logits?.dispose();
  }
}

/** Number of rows of logits whose argmax equals the label. */
export function countCorrect(logits: tf.Tensor2D, labels: Int32Array): number {
  const predicted = tf.tidy(() => tf.argMax(logits, -1)).dataSync();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct;
}
