import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { WeightedSumError, WeightedSum } from '../../../services/coordinator/aggregator/weighted-sum.js';
import { applySgd } from '../../../services/coordinator/optimizer/sgd-update.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { SgdMomentum } from '../../../src/training/sgd-momentum.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('weighted sum', () => {
  it('averages contributions weighted by their sample counts', () => {
    const sum = new WeightedSum(3);
    sum.add(Float32Array.from([1, 2, 3]), 32);
    sum.add(Float32Array.from([3, 2, 1]), 16);
    const avg = Array.from(sum.average());
    const expected = [1, 2, 3].map((a, i) => (a * 32 + [3, 2, 1][i]! * 16) / 48);
    for (const [i, v] of avg.entries()) expect(v).toBeCloseTo(expected[i]!, 6);
    expect(sum.contributions).toBe(2);
  });

  it('refuses a contribution of the wrong length or weight', () => {
    const sum = new WeightedSum(3);
    expect(() => sum.add(new Float32Array(4), 1)).toThrow(WeightedSumError);
    expect(() => sum.add(new Float32Array(3), 0)).toThrow(/weight/);
    expect(() => sum.average()).toThrow(/no contributions/);
  });

  it('stages a whole array ready to commit; a non-finite one is refused and leaves nothing staged', () => {
    const sum = new WeightedSum(3);
    expect(() => sum.stageWhole(Float32Array.from([1, Number.NaN, 3]), 2)).toThrow(/value 1 is not finite/);
    const staged = sum.stageWhole(Float32Array.from([1, 2, 3]), 2);
    sum.commit(staged);
    expect(Array.from(sum.average())).toEqual([1, 2, 3]);
  });
});

describe('coordinator SGD on the flat master copy', () => {
  it('matches the one-process tfjs optimizer over several steps, and copies non-trainable slices', () => {
    const slices: WeightSlice[] = [
      { name: 'dense/kernel', shape: [2, 2], offset: 0, length: 4, trainable: true },
      { name: 'bn/moving_mean', shape: [2], offset: 4, length: 2, trainable: false },
    ];
    const params = Float32Array.from([0.5, -1, 2, 0.25, 0, 0]);
    const buffer = new Float32Array(6);
    // slice(): the cpu backend keeps a typed array it is given, so a view would alias params.
    const variable = tf.variable(tf.tensor1d(params.slice(0, 4)), true, 'kernel_ref');
    const reference = new SgdMomentum({ momentum: 0.9, weightDecay: 5e-4 });
    const grads = [
      [0.1, 0.2, -0.3, 0.4],
      [-0.5, 0.1, 0.0, 0.2],
      [0.3, 0.3, 0.3, -0.3],
    ];
    grads.forEach((g, step) => {
      const averaged = Float32Array.from([...g, step + 1, -(step + 1)]);
      applySgd(params, buffer, averaged, slices, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 }, step === 0);
      const gt = tf.tensor1d(g);
      reference.apply(new Map([['kernel_ref', variable]]), { kernel_ref: gt }, 0.1);
      gt.dispose();
      const want = variable.dataSync();
      for (let i = 0; i < 4; i++) expect(params[i]).toBeCloseTo(want[i]!, 6);
      expect(Array.from(params.subarray(4))).toEqual([step + 1, -(step + 1)]);
    });
  });
});
