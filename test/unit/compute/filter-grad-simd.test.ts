import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

import { getFilterGradLayout, setFilterGradLayout } from '../../../src/compute/wasm/conv2d-backprop-filter.js';
import { getFilterGradBlocking, setFilterGradBlocking, type FilterGradBlocking } from '../../../src/compute/wasm/filter-grad-simd.js';
import { compareBackends, type ConvCase as Case, randomValues, useBackend } from './backend-compare.js';

const initialLayout = getFilterGradLayout();
const initialBlocking = getFilterGradBlocking();
afterAll(() => {
  setFilterGradLayout(initialLayout);
  setFilterGradBlocking(initialBlocking);
});

// Odd channel counts (kw*ci and co not multiples of the 4 x 8 tile), strides
// 1 and 2 (and unequal), both paddings, batch 1, 1x1 and 5x5 filters,
// filters wider than they are tall.
const cases: Case[] = [
  { x: [1, 7, 7, 3], k: [3, 3], cout: 5, stride: [1, 1], pad: 'same' },
  { x: [1, 7, 7, 3], k: [3, 3], cout: 5, stride: [2, 2], pad: 'same' },
  { x: [2, 9, 8, 5], k: [3, 3], cout: 20, stride: [2, 2], pad: 'valid' },
  { x: [3, 8, 6, 4], k: [3, 3], cout: 16, stride: [1, 1], pad: 'valid' },
  { x: [2, 10, 9, 8], k: [1, 1], cout: 24, stride: [2, 2], pad: 'same' },
  { x: [2, 11, 11, 2], k: [5, 5], cout: 9, stride: [1, 1], pad: 'same' },
  { x: [2, 9, 10, 6], k: [2, 3], cout: 8, stride: [2, 1], pad: 'same' },
  { x: [1, 12, 12, 16], k: [3, 3], cout: 32, stride: [1, 1], pad: 1 },
];

// The installed blocking, one pixel row and one 8-channel block at a time
// (blocks start inside images and channel blocks split co), and two rows and
// 16 channels (blocks straddle images).
const blockings: Array<[string, FilterGradBlocking | null]> = [
  ['installed', null],
  ['1 row, 8 channels', { l1Bytes: 1, channels: 8 }],
  ['~2 rows, 16 channels', { l1Bytes: 2 * 10 * (16 * 4 + 64), channels: 16 }],
];

const name = (c: Case): string => `x=${c.x.join('x')} k=${c.k.join('x')} cout=${c.cout} stride=${c.stride.join(',')} pad=${c.pad}`;

describe('wasm Conv2DBackpropFilter, fleet SIMD kernel, vs cpu', () => {
  it.each(blockings.flatMap(([label, b]) => cases.map((c) => ({ label, b, c }))))(
    '$label: $c.x k=$c.k stride=$c.stride pad=$c.pad',
    async ({ b, c }) => {
      setFilterGradLayout('simd');
      setFilterGradBlocking(b ?? initialBlocking);
      const seed = 700 + cases.indexOf(c) * 11;
      const filterShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.cout];
      const [err] = await compareBackends(() => {
        const x = tf.tensor4d(randomValues(tf.util.sizeFromShape(c.x), seed), c.x);
        const yShape = tf.conv2d(x, tf.zeros(filterShape) as tf.Tensor4D, c.stride, c.pad).shape;
        const dy = tf.tensor(randomValues(tf.util.sizeFromShape(yShape), seed + 1), yShape);
        const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape };
        return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      });
      expect(err, name(c)).toBeLessThan(1e-5);
    },
  );

  it('gives the same bits on every run (no timing-dependent choice)', async () => {
    setFilterGradLayout('simd');
    setFilterGradBlocking(initialBlocking);
    const run = () => {
      const x = tf.tensor4d(randomValues(4 * 8 * 8 * 6, 1), [4, 8, 8, 6]);
      const dy = tf.tensor4d(randomValues(4 * 8 * 8 * 16, 2), [4, 8, 8, 16]);
      const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 6, 16] };
      return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    };
    const [a] = await compareBackends(run);
    expect(a).toBeLessThan(1e-5);
    await useBackend('wasm');
    const first = tf.tidy(run).dataSync().slice();
    const second = tf.tidy(run).dataSync().slice();
    expect(Buffer.from(second.buffer).equals(Buffer.from(first.buffer))).toBe(true);
  });
});
