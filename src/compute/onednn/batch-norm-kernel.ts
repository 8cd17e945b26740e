import * as tf from '@tensorflow/tfjs';

import { asWasmBackend, heapF32 } from '../wasm/wasm-backend.js';
import { addon, callReplaced, type KernelArgs } from './kernel-context.js';

/**
 * FusedBatchNorm with per-channel (or scalar) statistics in one native pass:
 * y = (x - mean[c]) * k[c] + offset[c], k = scale * rsqrt(var + eps), k
 * computed here in double as fleet's wasm kernel does, so both agree.
 */
export function fusedBatchNormKernel(args: KernelArgs): tf.TensorInfo {
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined> & { x: tf.TensorInfo };
  const eps = Number(args.attrs?.varianceEpsilon ?? 0.001);
  const channels = x.shape[x.shape.length - 1] ?? 1;
  const perChannel = (t: tf.TensorInfo | undefined): boolean => {
    if (t === undefined) return true;
    const size = tf.util.sizeFromShape(t.shape);
    return t.dtype === 'float32' && (size === 1 || (size === channels && (t.shape[t.shape.length - 1] ?? 1) === channels));
  };
  if (
    x.dtype !== 'float32' ||
    x.shape.length === 0 ||
    channels === 0 ||
    mean === undefined ||
    variance === undefined ||
    ![mean, variance, offset, scale].every(perChannel)
  ) {
    return callReplaced('FusedBatchNorm', args);
  }
  const backend = asWasmBackend(args.backend);
  const out = backend.makeOutput(x.shape, 'float32');
  if (tf.util.sizeFromShape(x.shape) === 0) return out;
  const perChannelValues = (t: tf.TensorInfo | undefined, fallback: number): Float64Array => {
    const values = new Float64Array(channels).fill(fallback);
    if (t === undefined) return values;
    const v = heapF32(backend, t);
    return v.length === 1 ? values.fill(v[0] as number) : Float64Array.from(v);
  };
  const m = perChannelValues(mean, 0);
  const v = perChannelValues(variance, 1);
  const s = perChannelValues(scale, 1);
  const factor = new Float32Array(channels);
  for (let c = 0; c < channels; c++) factor[c] = (s[c] as number) / Math.sqrt((v[c] as number) + eps);
  const off = offset === undefined ? null : Float32Array.from(perChannelValues(offset, 0));
  addon().batchNormApply(heapF32(backend, x), Float32Array.from(m), factor, off, heapF32(backend, out), channels);
  return out;
}
