import * as tf from '@tensorflow/tfjs';

/** tfjs does not export its Initializer base type. */
export type Initializer = ReturnType<typeof tf.initializers.varianceScaling>;

/**
 * PyTorch's default init bound for conv/linear layers: kaiming_uniform(a=sqrt(5))
 * on the weight and U(-b, b) on the bias both reduce to b = 1/sqrt(fan_in).
 */
export function torchInitBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

/**
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for a kernel, as a stock VarianceScaling
 * (limit = sqrt(3 * scale / fan_in), so scale 1/3) so that saved models reload
 * in plain tfjs without a custom initializer. tfjs computes fan_in of a
 * [kh, kw, in, out] kernel as kh*kw*in and of a [in, out] one as in, like PyTorch.
 */
export function torchKernelInitializer(seed: number): Initializer {
  return tf.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed });
}

/** PyTorch's bias init: the bound comes from the layer's weight fan_in, not the bias shape. */
export function torchBiasInitializer(fanIn: number, seed: number): Initializer {
  const bound = torchInitBound(fanIn);
  return tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed });
}
