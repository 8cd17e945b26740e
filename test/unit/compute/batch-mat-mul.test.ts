import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { compareBackends, randomValues, runOn, relativeError } from './backend-compare.js';

const t = (shape: number[], seed: number): tf.Tensor => tf.tensor(randomValues(tf.util.sizeFromShape(shape), seed), shape);

describe('wasm BatchMatMul / _FusedMatMul with transposes vs cpu', () => {
  const combos = [
    { ta: false, tb: false },
    { ta: true, tb: false },
    { ta: false, tb: true },
    { ta: true, tb: true },
  ];

  it.each(combos)('rank 2, transposeA=$ta transposeB=$tb', async ({ ta, tb }) => {
    const [err] = await compareBackends(() => {
      const a = t(ta ? [7, 5] : [5, 7], 1);
      const b = t(tb ? [3, 7] : [7, 3], 2);
      return tf.matMul(a, b, ta, tb);
    });
    expect(err).toBeLessThan(1e-4);
  });

  it.each(combos)('rank 3 (batch 2), transposeA=$ta transposeB=$tb', async ({ ta, tb }) => {
    const [err] = await compareBackends(() => {
      const a = t(ta ? [2, 9, 4] : [2, 4, 9], 3);
      const b = t(tb ? [2, 6, 9] : [2, 9, 6], 4);
      return tf.matMul(a, b, ta, tb);
    });
    expect(err).toBeLessThan(1e-4);
  });

  it.each(combos)('fused with bias and relu, transposeA=$ta transposeB=$tb', async ({ ta, tb }) => {
    const [err] = await compareBackends(() => {
      const a = t(ta ? [8, 6] : [6, 8], 5);
      const b = t(tb ? [5, 8] : [8, 5], 6);
      return tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias: t([5], 7), activation: 'relu' });
    });
    expect(err).toBeLessThan(1e-4);
  });

  it('dense-layer gradients (both transposed matMuls) match cpu', async () => {
    const errs = await compareBackends(() => {
      const x = t([16, 40], 8);
      const w = t([40, 12], 9);
      const dy = t([16, 12], 10);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b))([x, w], dy);
    });
    expect(errs[0]).toBeLessThan(1e-4);
    expect(errs[1]).toBeLessThan(1e-4);
  });

  it('a b that reshapes data already used under another shape gets fresh packed weights', async () => {
    const f = (): tf.Tensor[] => {
      const base = t([12], 11);
      const first = tf.matMul(t([2, 3], 12), tf.reshape(base, [3, 4]));
      const second = tf.matMul(t([2, 4], 13), tf.reshape(base, [4, 3]));
      return [first, second];
    };
    const ref = await runOn('cpu', f);
    const got = await runOn('wasm', f);
    expect(relativeError(got[0] as Float32Array, ref[0] as Float32Array)).toBeLessThan(1e-4);
    expect(relativeError(got[1] as Float32Array, ref[1] as Float32Array)).toBeLessThan(1e-4);
  });
});
