import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  installOnednnKernels,
  loadOnednn,
  onednnLoadError,
  onednnThreads,
  setOnednnConvLayouts,
  setOnednnThreads,
  uninstallOnednnKernels,
  type ConvLayout,
  type OnednnAddon,
} from '../../../src/compute/onednn/index.js';
import { randomValues, relativeError, runOn } from './backend-compare.js';

const addon = loadOnednn();

/** The addon with its kernel calls counted, so a test sees whether the native code ran. */
let nativeCalls = 0;
function counting(a: OnednnAddon): OnednnAddon {
  const wrapped = { ...a };
  for (const name of ['conv2dForward', 'conv2dBackwardData', 'conv2dBackwardWeights', 'matmul', 'maxPoolGrad', 'batchNormApply'] as const) {
    const f = a[name] as (...args: unknown[]) => void;
    (wrapped as Record<string, unknown>)[name] = (...args: unknown[]): void => {
      nativeCalls++;
      f(...args);
    };
  }
  return wrapped;
}
const counted = addon && counting(addon);

type Pad = 'same' | 'valid';
interface ConvCase {
  x: [number, number, number, number];
  k: number;
  cout: number;
  stride: 1 | 2;
  pad: Pad;
}

const convCases: ConvCase[] = [];
for (const stride of [1, 2] as const) {
  for (const pad of ['same', 'valid'] as const) {
    convCases.push({ x: [1, 7, 7, 3], k: 3, cout: 5, stride, pad });
    convCases.push({ x: [2, 9, 11, 6], k: 1, cout: 4, stride, pad });
    convCases.push({ x: [1, 13, 13, 4], k: 7, cout: 8, stride, pad });
    convCases.push({ x: [3, 8, 6, 16], k: 3, cout: 32, stride, pad });
    convCases.push({ x: [1, 5, 6, 2], k: 2, cout: 3, stride, pad });
  }
}
const convName = (c: ConvCase): string => `x=${c.x.join('x')} k=${c.k} cout=${c.cout} stride=${c.stride} pad=${c.pad}`;

function convTensors(c: ConvCase, seed: number): { x: tf.Tensor4D; w: tf.Tensor4D; bias: tf.Tensor1D; dy: tf.Tensor4D } {
  const x = tf.tensor4d(randomValues(tf.util.sizeFromShape(c.x), seed), c.x);
  const wShape: [number, number, number, number] = [c.k, c.k, c.x[3], c.cout];
  const w = tf.tensor4d(randomValues(tf.util.sizeFromShape(wShape), seed + 1), wShape);
  const bias = tf.tensor1d(randomValues(c.cout, seed + 2));
  const y = tf.conv2d(x, w, c.stride, c.pad);
  const dy = tf.tensor4d(randomValues(y.size, seed + 3), y.shape);
  return { x, w, bias, dy };
}

/**
 * Errors of `f` on wasm with the oneDNN kernels against the cpu backend; sets
 * `native` to the addon calls it made (0: everything fell back to wasm).
 */
async function errorsVsCpu(f: () => tf.Tensor | tf.Tensor[]): Promise<number[]> {
  const ref = await runOn('cpu', f);
  const before = nativeCalls;
  const got = await runOn('wasm', f);
  native = nativeCalls - before;
  return ref.map((r, i) => relativeError(got[i] as Float32Array, r));
}
let native = 0;

describe.skipIf(!addon)(`oneDNN kernels vs the cpu backend${addon ? '' : ` (skipped: ${onednnLoadError()})`}`, () => {
  beforeAll(() => {
    if (counted) installOnednnKernels(counted);
  });
  afterAll(() => {
    uninstallOnednnKernels();
    setOnednnConvLayouts();
  });

  for (const layout of ['plain', 'blocked', 'mixed', 'winograd'] as ConvLayout[]) {
    describe(`${layout} layouts`, () => {
      beforeAll(() => setOnednnConvLayouts({ forward: layout, backwardData: layout, backwardWeights: layout }));

      it.each(convCases)('Conv2D and FusedConv2D (bias, relu) $x k=$k stride=$stride pad=$pad', async (c) => {
        const seed = 10 + convCases.indexOf(c) * 7;
        const errs = await errorsVsCpu(() => {
          const { x, w, bias } = convTensors(c, seed);
          return [
            tf.conv2d(x, w, c.stride, c.pad),
            tf.fused.conv2d({ x, filter: w, strides: c.stride, pad: c.pad, bias }),
            tf.fused.conv2d({ x, filter: w, strides: c.stride, pad: c.pad, bias, activation: 'relu' }),
          ];
        });
        for (const [i, e] of errs.entries()) expect(e, `output ${i} ${convName(c)}`).toBeLessThan(1e-4);
        expect(native, 'native calls').toBeGreaterThan(0);
      });

      it.each(convCases)('Conv2DBackpropInput $x k=$k stride=$stride pad=$pad', async (c) => {
        const seed = 300 + convCases.indexOf(c) * 7;
        const [err] = await errorsVsCpu(() => {
          const { w, dy } = convTensors(c, seed);
          return tf.conv2dTranspose(dy, w, c.x, c.stride, c.pad);
        });
        expect(err, convName(c)).toBeLessThan(1e-4);
        expect(native, 'native calls').toBeGreaterThan(0);
      });

      it.each(convCases)('Conv2DBackpropFilter $x k=$k stride=$stride pad=$pad', async (c) => {
        const seed = 500 + convCases.indexOf(c) * 7;
        const [err] = await errorsVsCpu(() => {
          const { x, dy } = convTensors(c, seed);
          const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', filterShape: [c.k, c.k, c.x[3], c.cout] };
          return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        });
        expect(err, convName(c)).toBeLessThan(1e-4);
        expect(native, 'native calls').toBeGreaterThan(0);
      });
    });
  }

  it('Winograd convolutions match the direct kernels within 1e-4, and repeat exactly', async () => {
    // Big enough for oneDNN to choose Winograd on AVX-512 (direct kernels elsewhere);
    // the direct kernels are checked against the cpu backend above.
    const run = async (layout: ConvLayout): Promise<Float32Array[]> => {
      setOnednnConvLayouts({ forward: layout, backwardData: layout, backwardWeights: layout });
      return runOn('wasm', () => {
        const x = tf.tensor4d(randomValues(32 * 32 * 32 * 64, 61), [32, 32, 32, 64]);
        const w = tf.tensor4d(randomValues(3 * 3 * 64 * 64, 62), [3, 3, 64, 64]);
        const bias = tf.tensor1d(randomValues(64, 63));
        const dy = tf.tensor4d(randomValues(32 * 32 * 32 * 64, 64), [32, 32, 32, 64]);
        const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 64, 64] };
        return [
          tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias, activation: 'relu' }),
          tf.conv2dTranspose(dy, w, x.shape, 1, 'same'),
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor,
        ];
      });
    };
    try {
      const direct = await run('mixed');
      const winograd = await run('winograd');
      const again = await run('winograd');
      for (const [i, d] of direct.entries()) {
        expect(relativeError(winograd[i] as Float32Array, d), `output ${i}`).toBeLessThan(1e-4);
        expect(Array.from(again[i] as Float32Array), `output ${i} repeated`).toEqual(Array.from(winograd[i] as Float32Array));
      }
    } finally {
      setOnednnConvLayouts();
    }
  });

  it('runs dilated and explicitly padded convolutions', async () => {
    const errs = await errorsVsCpu(() => {
      const x = tf.tensor4d(randomValues(2 * 11 * 10 * 3, 1), [2, 11, 10, 3]);
      const w = tf.tensor4d(randomValues(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
      return [
        tf.conv2d(x, w, 1, 'same', 'NHWC', 2),
        tf.conv2d(
          x,
          w,
          2,
          [
            [0, 0],
            [1, 2],
            [2, 0],
            [0, 0],
          ],
          'NHWC',
        ),
      ];
    });
    for (const [i, e] of errs.entries()) expect(e, `output ${i}`).toBeLessThan(1e-4);
  });

  it('hands activations it does not fuse (elu, prelu) to the wasm kernel', async () => {
    const errs = await errorsVsCpu(() => {
      const x = tf.tensor4d(randomValues(2 * 6 * 6 * 3, 3), [2, 6, 6, 3]);
      const w = tf.tensor4d(randomValues(3 * 3 * 3 * 4, 4), [3, 3, 3, 4]);
      const bias = tf.tensor1d(randomValues(4, 5));
      const alpha = tf.tensor1d(randomValues(4, 6));
      return [
        tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias, activation: 'elu' }),
        tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias, activation: 'prelu', preluActivationWeights: alpha }),
      ];
    });
    for (const [i, e] of errs.entries()) expect(e, `output ${i}`).toBeLessThan(1e-4);
    expect(native, 'native calls').toBe(0);
  });

  const matmulCases: Array<{ a: number[]; b: number[]; transposeA: boolean; transposeB: boolean }> = [];
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      const m = 7;
      const k = 13;
      const n = 5;
      const aMat = transposeA ? [k, m] : [m, k];
      const bMat = transposeB ? [n, k] : [k, n];
      matmulCases.push({ a: aMat, b: bMat, transposeA, transposeB });
      matmulCases.push({ a: [3, ...aMat], b: [3, ...bMat], transposeA, transposeB });
      matmulCases.push({ a: [2, 3, ...aMat], b: bMat, transposeA, transposeB });
      matmulCases.push({ a: aMat, b: [4, ...bMat], transposeA, transposeB });
    }
  }

  it.each(matmulCases)('BatchMatMul and _FusedMatMul a=$a b=$b transposeA=$transposeA transposeB=$transposeB', async (c) => {
    const seed = 700 + matmulCases.indexOf(c) * 5;
    const n = c.transposeB ? (c.b[c.b.length - 2] as number) : (c.b[c.b.length - 1] as number);
    const errs = await errorsVsCpu(() => {
      const a = tf.tensor(randomValues(tf.util.sizeFromShape(c.a), seed), c.a);
      const b = tf.tensor(randomValues(tf.util.sizeFromShape(c.b), seed + 1), c.b);
      const bias = tf.tensor1d(randomValues(n, seed + 2));
      return [
        tf.matMul(a, b, c.transposeA, c.transposeB),
        tf.fused.matMul({ a, b, transposeA: c.transposeA, transposeB: c.transposeB, bias, activation: 'relu' }),
        tf.fused.matMul({ a, b, transposeA: c.transposeA, transposeB: c.transposeB, bias }),
      ];
    });
    for (const [i, e] of errs.entries()) expect(e, `output ${i}`).toBeLessThan(1e-4);
    expect(native, 'native calls').toBeGreaterThan(0);
  });

  const poolCases: Array<{ x: [number, number, number, number]; size: number; stride: number; pad: Pad; ties?: boolean }> = [
    { x: [2, 8, 8, 5], size: 2, stride: 2, pad: 'valid' },
    { x: [2, 6, 6, 9], size: 2, stride: 2, pad: 'valid', ties: true },
    { x: [1, 9, 9, 6], size: 3, stride: 3, pad: 'valid', ties: true },
    { x: [1, 7, 7, 5], size: 3, stride: 2, pad: 'same', ties: true },
    { x: [1, 9, 7, 3], size: 2, stride: 2, pad: 'valid' },
    { x: [2, 9, 9, 4], size: 3, stride: 2, pad: 'same' },
    { x: [1, 7, 6, 6], size: 3, stride: 1, pad: 'same' },
  ];

  it.each(poolCases)('MaxPoolGrad $x size=$size stride=$stride pad=$pad ties=$ties', async (c) => {
    const seed = 900 + poolCases.indexOf(c) * 3;
    const errs = await errorsVsCpu(() => {
      const values = randomValues(tf.util.sizeFromShape(c.x), seed);
      // Values from {-1, 0, 1}: most windows hold several maxima, and the first must win.
      const x = tf.tensor4d(c.ties ? values.map(Math.round) : values, c.x);
      const y = tf.maxPool(x, c.size, c.stride, c.pad);
      const dy = tf.tensor4d(randomValues(y.size, seed + 1), y.shape);
      return tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, c.size, c.stride, c.pad))(x, dy);
    });
    expect(errs[0]).toBeLessThan(1e-4);
    expect(native, 'native calls').toBeGreaterThan(0);
  });

  it('FusedBatchNorm with per-channel, scalar and absent parameters', async () => {
    const errs = await errorsVsCpu(() => {
      const x = tf.tensor4d(randomValues(2 * 5 * 3 * 6, 31), [2, 5, 3, 6]).add(10);
      const perChannel = (seed: number, shift: number): tf.Tensor1D => tf.tensor1d(randomValues(6, seed)).add(shift);
      const mean = perChannel(32, 10);
      const variance = perChannel(33, 2);
      return [
        tf.batchNorm(x, mean, variance, perChannel(34, 0), perChannel(35, 1), 1e-5),
        tf.batchNorm(x, mean, variance, undefined, undefined, 1e-3),
        tf.batchNorm(x, tf.scalar(10), tf.scalar(0.5), tf.scalar(0.1), tf.scalar(1.5)),
      ];
    });
    for (const [i, e] of errs.entries()) expect(e, `output ${i}`).toBeLessThan(1e-4);
    expect(native, 'native calls').toBe(3);
  });

  it('follows setOnednnThreads: the same gradients on 1 and 2 threads', async () => {
    const before = onednnThreads();
    const filterGrad = (): tf.Tensor => {
      const x = tf.tensor4d(randomValues(4 * 16 * 16 * 32, 51), [4, 16, 16, 32]);
      const dy = tf.tensor4d(randomValues(4 * 16 * 16 * 32, 52), [4, 16, 16, 32]);
      const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 32, 32] };
      return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    };
    try {
      setOnednnThreads(1);
      expect(onednnThreads()).toBe(1);
      const [one] = await runOn('wasm', filterGrad);
      setOnednnThreads(2);
      expect(onednnThreads()).toBe(2);
      const [two] = await runOn('wasm', filterGrad);
      expect(relativeError(two as Float32Array, one as Float32Array)).toBeLessThan(1e-5);
    } finally {
      setOnednnThreads(before);
    }
  });

  it('uninstalls back to the wasm kernels and reinstalls', async () => {
    uninstallOnednnKernels();
    const calls = nativeCalls;
    const [viaWasm] = await runOn('wasm', () => tf.matMul(tf.ones([3, 4]), tf.ones([4, 2])));
    expect(nativeCalls).toBe(calls);
    if (counted) installOnednnKernels(counted);
    const [viaOnednn] = await runOn('wasm', () => tf.matMul(tf.ones([3, 4]), tf.ones([4, 2])));
    expect(nativeCalls).toBe(calls + 1);
    expect(Array.from(viaOnednn as Float32Array)).toEqual(Array.from(viaWasm as Float32Array));
  });
});
