import { sgdStep } from '../../../src/compute/vector-math/index.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';

export interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
}

/**
 * The coordinator's optimizer step on its flat master copy, the same rule as
 * training/sgd-momentum.ts (PyTorch semantics): g = grad + wd*p;
 * buf = momentum*buf + g (buf = g on the first step); p -= lr*buf.
 * Non-trainable slices take the averaged value as it is (BatchNorm statistics
 * of all workers). `momentumBuffer` holds one float per master float.
 * Runs as a SIMD kernel (vector-math), in place when the three arrays share
 * the coordinator's VectorMemory; in float32 throughout, as tfjs does.
 */
export function applySgd(
  params: Float32Array,
  momentumBuffer: Float32Array,
  averaged: Float32Array,
  slices: readonly WeightSlice[],
  hyper: SgdHyper,
  firstStep: boolean,
): void {
  const { lr, momentum, weightDecay } = hyper;
  for (const slice of slices) {
    const end = slice.offset + slice.length;
    if (!slice.trainable) {
      params.set(averaged.subarray(slice.offset, end), slice.offset);
      continue;
    }
    sgdStep(params.subarray(slice.offset, end), momentumBuffer.subarray(slice.offset, end), averaged.subarray(slice.offset, end), {
      lr,
      momentum,
      weightDecay,
      useBuffer: momentum > 0 && !firstStep,
    });
  }
}
