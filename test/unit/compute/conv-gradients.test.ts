import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { compareBackends, randomValues } from './backend-compare.js';

type Pad = 'same' | 'valid';
interface Case {
  x: [number, number, number, number];
  k: number;
  cout: number;
  stride: 1 | 2;
  pad: Pad;
}

const cases: Case[] = [];
for (const stride of [1, 2] as const) {
  for (const pad of ['same', 'valid'] as const) {
    cases.push({ x: [2, 7, 7, 3], k: 3, cout: 5, stride, pad });
    cases.push({ x: [3, 8, 6, 4], k: 3, cout: 8, stride, pad });
    cases.push({ x: [2, 9, 9, 6], k: 1, cout: 4, stride, pad });
    cases.push({ x: [4, 10, 10, 8], k: 1, cout: 16, stride, pad });
    cases.push({ x: [1, 5, 6, 2], k: 2, cout: 3, stride, pad });
    cases.push({ x: [2, 11, 11, 3], k: 5, cout: 2, stride, pad });
  }
}

function tensors(c: Case, seed: number): { x: tf.Tensor4D; w: tf.Tensor4D; dy: tf.Tensor4D } {
  const x = tf.tensor4d(randomValues(tf.util.sizeFromShape(c.x), seed), c.x);
  const wShape: [number, number, number, number] = [c.k, c.k, c.x[3], c.cout];
  const w = tf.tensor4d(randomValues(tf.util.sizeFromShape(wShape), seed + 1), wShape);
  const y = tf.conv2d(x, w, c.stride, c.pad);
  const dy = tf.tensor4d(randomValues(y.size, seed + 2), y.shape);
  return { x, w, dy };
}

const name = (c: Case): string => `x=${c.x.join('x')} k=${c.k} cout=${c.cout} stride=${c.stride} pad=${c.pad}`;

describe('wasm conv2d gradient kernels vs cpu', () => {
  it.each(cases)('Conv2DBackpropFilter $x k=$k stride=$stride pad=$pad', async (c) => {
    const seed = 100 + cases.indexOf(c) * 7;
    const [err] = await compareBackends(() => {
      const { x, dy } = tensors(c, seed);
      // Not exported as an op: run the kernel the conv2d gradient runs.
      const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', filterShape: [c.k, c.k, c.x[3], c.cout] };
      return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
    expect(err, name(c)).toBeLessThan(1e-4);
  });

  it.each(cases)('Conv2DBackpropInput $x k=$k stride=$stride pad=$pad', async (c) => {
    const seed = 300 + cases.indexOf(c) * 7;
    const [err] = await compareBackends(() => {
      const { w, dy } = tensors(c, seed);
      return tf.conv2dTranspose(dy, w, c.x, c.stride, c.pad);
    });
    expect(err, name(c)).toBeLessThan(1e-4);
  });

  it.each(cases)('tf.grad of conv2d $x k=$k stride=$stride pad=$pad', async (c) => {
    const seed = 500 + cases.indexOf(c) * 7;
    const errs = await compareBackends(() => {
      const { x, w, dy } = tensors(c, seed);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad));
      return g([x, w], dy);
    });
    expect(errs[0], `dx ${name(c)}`).toBeLessThan(1e-4);
    expect(errs[1], `dw ${name(c)}`).toBeLessThan(1e-4);
  });
});
