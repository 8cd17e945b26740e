import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

import {
  getFilterGradChunk,
  getFilterGradLayout,
  setFilterGradChunk,
  setFilterGradLayout,
  type FilterGradLayout,
} from '../../../src/compute/wasm/conv2d-backprop-filter.js';
import { compareBackends, randomValues } from './backend-compare.js';

const initial = getFilterGradChunk();
const initialLayout = getFilterGradLayout();
afterAll(() => {
  setFilterGradChunk(initial);
  setFilterGradLayout(initialLayout);
});

const settings = [
  { batch: 4, chunk: 1, stride: 1, pad: 'same' as const },
  { batch: 6, chunk: 2, stride: 2, pad: 'valid' as const },
  { batch: 6, chunk: 4, stride: 1, pad: 'valid' as const }, // 4 does not divide 6: falls back to 3
  { batch: 8, chunk: 'all' as const, stride: 2, pad: 'same' as const },
  { batch: 5, chunk: 'all' as const, stride: 1, pad: 'same' as const },
];
const cases = (['wide', 'batch', 'simd'] as FilterGradLayout[]).flatMap((layout) => settings.map((s) => ({ ...s, layout })));

describe('wasm Conv2DBackpropFilter vs cpu, every layout (chunk settings for the XNNPACK ones)', () => {
  it.each(cases)('layout $layout batch $batch chunk $chunk stride $stride pad $pad', async ({ layout, batch, chunk, stride, pad }) => {
    setFilterGradLayout(layout);
    setFilterGradChunk(chunk);
    const xShape: [number, number, number, number] = [batch, 9, 8, 5];
    const [err] = await compareBackends(() => {
      const x = tf.tensor(randomValues(tf.util.sizeFromShape(xShape), batch), xShape) as tf.Tensor4D;
      const w = tf.zeros([3, 3, 5, 7]) as tf.Tensor4D;
      const yShape = tf.conv2d(x, w, stride, pad).shape;
      const dy = tf.tensor(randomValues(tf.util.sizeFromShape(yShape), batch + 1), yShape);
      const attrs = { strides: [stride, stride], pad, dataFormat: 'NHWC', filterShape: [3, 3, 5, 7] };
      return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
    expect(err).toBeLessThan(1e-4);
  });
});
