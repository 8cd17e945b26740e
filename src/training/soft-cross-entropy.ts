import * as tf from '@tensorflow/tfjs';

/**
 * Mean cross-entropy of logits [B, C] against soft targets [B, C]. Label
 * smoothing, Mixup and CutMix all reduce to soft targets, and the mixed loss
 * lam*CE(a) + (1-lam)*CE(b) equals CE against the mixed targets.
 */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}
