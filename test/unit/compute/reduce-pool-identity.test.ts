import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { compareBackends, randomValues, useBackend } from './backend-compare.js';

const t = (shape: number[], seed: number): tf.Tensor => tf.tensor(randomValues(tf.util.sizeFromShape(shape), seed), shape);

describe('wasm Sum / Mean over leading axes vs cpu', () => {
  it.each([
    { shape: [4, 5, 3, 6], axis: [0, 1, 2], keepDims: false },
    { shape: [4, 5, 3, 6], axis: [0, 1, 2], keepDims: true },
    { shape: [7, 9], axis: [0], keepDims: false },
    { shape: [1, 5], axis: [0], keepDims: false },
    { shape: [13, 3, 2], axis: [0, 1], keepDims: false },
    { shape: [3, 4, 5], axis: [1, 0], keepDims: false },
    { shape: [3, 4, 5], axis: [1, 2], keepDims: false }, // trailing: upstream path
    { shape: [3, 4, 5], axis: [0, 2], keepDims: true }, // mixed: upstream path
    { shape: [3, 4, 5], axis: [0, 1, 2], keepDims: false }, // all: upstream path
  ])('shape $shape axis $axis keepDims $keepDims', async ({ shape, axis, keepDims }) => {
    const errs = await compareBackends(() => {
      const x = t(shape, 3);
      return [tf.sum(x, axis, keepDims), tf.mean(x, axis, keepDims)];
    });
    expect(errs[0]).toBeLessThan(1e-5);
    expect(errs[1]).toBeLessThan(1e-5);
  });

  it('keeps the output shape of keepDims', async () => {
    await useBackend('wasm');
    const s = tf.sum(tf.ones([2, 3, 4]), [0, 1], true);
    expect(s.shape).toEqual([1, 1, 4]);
    expect(Array.from(await s.data())).toEqual([6, 6, 6, 6]);
    s.dispose();
  });
});

describe('wasm MaxPoolGrad vs cpu', () => {
  it.each([
    { shape: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' as const },
    { shape: [2, 7, 9, 4], size: 2, stride: 2, pad: 'valid' as const }, // odd sizes
    { shape: [1, 9, 9, 2], size: 3, stride: 3, pad: 'valid' as const },
    { shape: [2, 7, 7, 3], size: 2, stride: 2, pad: 'same' as const }, // padded bottom/right
    { shape: [2, 9, 9, 3], size: 3, stride: 2, pad: 'same' as const }, // overlapping, padded (upstream is wrong here)
    { shape: [2, 10, 10, 3], size: 3, stride: 2, pad: 'same' as const }, // overlapping, padded bottom/right
    { shape: [2, 9, 9, 3], size: 3, stride: 1, pad: 'same' as const }, // overlapping, padded on all sides
    { shape: [2, 9, 9, 3], size: 3, stride: 1, pad: 'valid' as const }, // overlapping
    // Channels a multiple of 4 and 2x2 windows at stride 2: the SIMD kernel.
    { shape: [2, 8, 8, 8], size: 2, stride: 2, pad: 'valid' as const },
    { shape: [1, 7, 9, 4], size: 2, stride: 2, pad: 'valid' as const }, // odd sizes: last row and column get 0
    { shape: [2, 6, 10, 12], size: 2, stride: 2, pad: 'same' as const }, // even: no padding
    { shape: [2, 7, 7, 8], size: 2, stride: 2, pad: 'same' as const }, // padded: the JS loop
  ])('input $shape pool $size stride $stride pad $pad', async ({ shape, size, stride, pad }) => {
    const [err] = await compareBackends(() => {
      const x = t(shape, 5);
      const y = tf.maxPool(x as tf.Tensor4D, size, stride, pad);
      return tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, size, stride, pad))(x, t(y.shape, 6));
    });
    expect(err).toBeLessThan(1e-6);
  });

  it.each([3, 8])('sends the gradient of a tied window to its first maximum, like cpu (ReLU outputs tie at 0), %i channels', async (c) => {
    const [err] = await compareBackends(() => {
      const x = tf.relu(t([2, 6, 6, c], 7));
      return tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'))(x, t([2, 3, 3, c], 8));
    });
    expect(err).toBeLessThan(1e-6);
  });

  it('breaks ties between any two of the four inputs of a window like cpu (values 0, 1, 2 only)', async () => {
    const [err] = await compareBackends(() => {
      const x = tf.round(tf.add(t([3, 8, 8, 16], 9), 1));
      return tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'))(x, t([3, 4, 4, 16], 10));
    });
    expect(err).toBeLessThan(1e-6);
  });
});

describe('wasm Identity', () => {
  it('clones share data safely: values survive disposing the original', async () => {
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const a = t([3, 4], 9);
    const expected = Array.from(await a.data());
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(await b.data())).toEqual(expected);
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('wasm FusedBatchNorm vs cpu', () => {
  it.each([
    { name: 'per-channel, all params', x: [3, 4, 5, 6], p: [6], offset: true, scale: true },
    { name: 'per-channel as [1,1,1,C]', x: [3, 4, 5, 6], p: [1, 1, 1, 6], offset: true, scale: true },
    { name: 'no offset, no scale', x: [2, 3, 7], p: [7], offset: false, scale: false },
    { name: 'scalar statistics', x: [4, 5], p: [1], offset: true, scale: false },
    { name: 'full-shape statistics (upstream path)', x: [2, 3, 4], p: [2, 3, 4], offset: true, scale: true },
  ])('$name', async ({ x, p, offset, scale }) => {
    const [err] = await compareBackends(() => {
      const mean = t(p, 21);
      const variance = tf.add(tf.abs(t(p, 22)), 0.1);
      return tf.batchNorm(
        tf.add(t(x, 20), 30),
        tf.add(mean, 30),
        variance,
        offset ? t(p, 23) : undefined,
        scale ? t(p, 24) : undefined,
        1e-3,
      );
    });
    expect(err).toBeLessThan(1e-5);
  });
});
