import type * as tf from '@tensorflow/tfjs';

export interface ParameterCount {
  /** What PyTorch reports as parameters (BN gamma/beta included). */
  trainable: number;
  /** Buffers in PyTorch terms, e.g. BN running mean/variance. */
  nonTrainable: number;
}

function sizeOf(shape: readonly (number | null)[]): number {
  return shape.reduce<number>((n, d) => n * (d ?? 0), 1);
}

export function countParameters(model: tf.LayersModel): ParameterCount {
  return {
    trainable: model.trainableWeights.reduce((n, w) => n + sizeOf(w.shape), 0),
    nonTrainable: model.nonTrainableWeights.reduce((n, w) => n + sizeOf(w.shape), 0),
  };
}
