import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

import { getInputGradLayout, setInputGradLayout, type InputGradLayout } from '../../../src/compute/wasm/conv2d-backprop-input.js';
import { compareBackends, type ConvCase as Case, randomValues, useBackend } from './backend-compare.js';

const initial = getInputGradLayout();
afterAll(() => setInputGradLayout(initial));

// Rows of 5 and 7 pixels (the last 4-pixel tile overlaps the one before),
// rows of 4, rows of 3 (too narrow: XNNPACK), input channels not a multiple
// of 8, strides 1, 2 and unequal, both paddings and a number, batch 1.
const cases: Case[] = [
  { x: [1, 5, 5, 3], k: [3, 3], cout: 4, stride: [1, 1], pad: 'same' },
  { x: [2, 7, 7, 12], k: [3, 3], cout: 5, stride: [2, 2], pad: 'same' },
  { x: [2, 8, 4, 8], k: [3, 3], cout: 16, stride: [1, 1], pad: 'valid' },
  { x: [3, 9, 9, 16], k: [3, 3], cout: 8, stride: [2, 2], pad: 'valid' },
  { x: [2, 6, 3, 8], k: [3, 3], cout: 8, stride: [1, 1], pad: 'same' },
  { x: [1, 10, 11, 9], k: [5, 5], cout: 3, stride: [1, 1], pad: 'same' },
  { x: [2, 9, 10, 8], k: [2, 3], cout: 7, stride: [2, 1], pad: 'same' },
  { x: [2, 8, 8, 8], k: [1, 1], cout: 24, stride: [2, 2], pad: 'same' },
  { x: [1, 12, 12, 16], k: [3, 3], cout: 32, stride: [1, 1], pad: 2 },
];

const name = (c: Case): string => `x=${c.x.join('x')} k=${c.k.join('x')} cout=${c.cout} stride=${c.stride.join(',')} pad=${c.pad}`;

describe('wasm Conv2DBackpropInput, fleet SIMD kernel and XNNPACK, vs cpu', () => {
  const all = (['simd', 'xnnpack'] as InputGradLayout[]).flatMap((layout) => cases.map((c) => ({ layout, c })));
  it.each(all)('$layout: $c.x k=$c.k stride=$c.stride pad=$c.pad', async ({ layout, c }) => {
    setInputGradLayout(layout);
    const seed = 900 + cases.indexOf(c) * 13;
    const wShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.cout];
    const [err] = await compareBackends(() => {
      const w = tf.tensor4d(randomValues(tf.util.sizeFromShape(wShape), seed), wShape);
      const yShape = tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, w, c.stride, c.pad).shape;
      const dy = tf.tensor4d(randomValues(tf.util.sizeFromShape(yShape), seed + 1), yShape as [number, number, number, number]);
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
      return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
    expect(err, name(c)).toBeLessThan(1e-5);
  });

  it('gives the same bits on every run and leaves no tensors behind', async () => {
    setInputGradLayout('simd');
    await useBackend('wasm');
    const run = (): Float32Array => {
      const t = tf.tidy(() => {
        const w = tf.tensor4d(randomValues(3 * 3 * 12 * 16, 1), [3, 3, 12, 16]);
        const dy = tf.tensor4d(randomValues(2 * 9 * 9 * 16, 2), [2, 9, 9, 16]);
        return tf.conv2dTranspose(dy, w, [2, 9, 9, 12], 1, 'same');
      });
      const values = (t.dataSync() as Float32Array).slice();
      t.dispose();
      return values;
    };
    const before = tf.memory().numTensors;
    const first = run();
    const second = run();
    expect(tf.memory().numTensors).toBe(before);
    expect(Buffer.from(second.buffer).equals(Buffer.from(first.buffer))).toBe(true);
  });
});
