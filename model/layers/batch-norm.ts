import * as tf from '@tensorflow/tfjs';

/** Options of a BatchNorm layer, PyTorch defaults (momentum 0.1 there = 0.9 here). */
export interface BatchNormOptions {
  name?: string;
  momentum?: number;
  epsilon?: number;
}

/**
 * BatchNorm over the channel axis of an NHWC tensor (or the features of [B, F]).
 * PLACEHOLDER: plain tfjs layer until compute/ provides the closed-form backward.
 */
export function batchNorm(options: BatchNormOptions = {}): tf.layers.Layer {
  return tf.layers.batchNormalization({
    axis: -1,
    momentum: options.momentum ?? 0.9,
    epsilon: options.epsilon ?? 1e-5,
    ...(options.name ? { name: options.name } : {}),
  });
}
