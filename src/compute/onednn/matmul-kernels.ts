import * as tf from '@tensorflow/tfjs';

import { asWasmBackend, heapF32 } from '../wasm/wasm-backend.js';
import { addon, callReplaced, type KernelArgs } from './kernel-context.js';

interface MatmulPlan {
  geometry: Int32Array;
  outShape: number[];
  n: number;
}

/**
 * The addon's geometry for a (batched) product, or null when the native code
 * does not cover it: outer batch shapes must be equal, or one operand unbatched;
 * an empty inner dimension goes to the wasm kernel too.
 */
function plan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): MatmulPlan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = (transposeA ? a.shape[ra - 1] : a.shape[ra - 2]) as number;
  const k = (transposeA ? a.shape[ra - 2] : a.shape[ra - 1]) as number;
  const kb = (transposeB ? b.shape[rb - 1] : b.shape[rb - 2]) as number;
  const n = (transposeB ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
  if (k !== kb || k === 0) return null;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  let outer: number[];
  if (batchB === 1 && outerA.length >= outerB.length) outer = outerA;
  else if (batchA === 1 && outerB.length >= outerA.length) outer = outerB;
  else if (outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])) outer = outerA;
  else return null;
  return {
    geometry: Int32Array.of(batchA, batchB, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0),
    outShape: [...outer, m, n],
    n,
  };
}

function run(
  args: KernelArgs,
  p: MatmulPlan,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  relu: boolean,
): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  // Output first: a later allocation may move the heap under earlier views.
  const out = backend.makeOutput(p.outShape, 'float32');
  if (tf.util.sizeFromShape(p.outShape) === 0) return out;
  addon().matmul(heapF32(backend, a), heapF32(backend, b), bias ? heapF32(backend, bias) : null, heapF32(backend, out), p.geometry, relu);
  return out;
}

type MatmulAttrs = { transposeA?: boolean; transposeB?: boolean; activation?: string };

export function batchMatMulKernel(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const attrs = (args.attrs ?? {}) as MatmulAttrs;
  const p = plan(a, b, attrs.transposeA === true, attrs.transposeB === true);
  if (!p) return callReplaced('BatchMatMul', args);
  return run(args, p, a, b, undefined, false);
}

/** _FusedMatMul with a per-column bias and linear/relu; anything else goes to the wasm kernel. */
export function fusedMatMulKernel(args: KernelArgs): tf.TensorInfo {
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: tf.TensorInfo;
    b: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const attrs = (args.attrs ?? {}) as MatmulAttrs;
  const activation = attrs.activation ?? 'linear';
  const p = plan(a, b, attrs.transposeA === true, attrs.transposeB === true);
  const biasOk =
    bias === undefined ||
    (bias.dtype === 'float32' &&
      bias.shape.length >= 1 &&
      bias.shape[bias.shape.length - 1] === p?.n &&
      tf.util.sizeFromShape(bias.shape) === p?.n);
  if (!p || preluActivationWeights !== undefined || (activation !== 'linear' && activation !== 'relu') || !biasOk) {
    return callReplaced('_FusedMatMul', args);
  }
  return run(args, p, a, b, bias, activation === 'relu');
}
