import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { softCrossEntropy } from '../../../src/training/soft-cross-entropy.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('soft-target cross-entropy', () => {
  it('equals -sum(t * log softmax(z)) averaged over the batch', () => {
    const z = [
      [2, 0, -1],
      [0.5, 0.5, 3],
    ];
    const t = [
      [1, 0, 0],
      [0.2, 0.3, 0.5],
    ];
    const expected = z.map((row, i) => {
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      return -row.reduce((s, v, j) => s + t[i]![j]! * (v - lse), 0);
    });
    const loss = softCrossEntropy(tf.tensor2d(z), tf.tensor2d(t)).dataSync()[0]!;
    expect(loss).toBeCloseTo((expected[0]! + expected[1]!) / 2, 5);
  });

  it('of a mixed target equals the mix of the two losses', () => {
    const z = tf.tensor2d([[1, 2, 3, 0]]);
    const a = tf.tensor2d([[1, 0, 0, 0]]);
    const b = tf.tensor2d([[0, 0, 1, 0]]);
    const lam = 0.3;
    const mixed = softCrossEntropy(z, tf.add(tf.mul(a, lam), tf.mul(b, 1 - lam)) as tf.Tensor2D).dataSync()[0]!;
    const separate = lam * softCrossEntropy(z, a).dataSync()[0]! + (1 - lam) * softCrossEntropy(z, b).dataSync()[0]!;
    expect(mixed).toBeCloseTo(separate, 5);
  });
});
