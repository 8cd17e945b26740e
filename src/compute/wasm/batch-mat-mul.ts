import type * as tf from '@tensorflow/tfjs';

import { callUpstream, up } from './upstream-kernels.js';
import { asWasmBackend, copyTensor, type WasmBackend } from './wasm-backend.js';

/**
 * BatchMatMul and _FusedMatMul with transposeA/transposeB: upstream drops to a
 * naive loop (under 1 GFLOP/s) for any transpose; materialising the transpose
 * first keeps the XNNPACK path (12-16 GFLOP/s) for a copy that costs far less.
 *
 * Upstream also caches XNNPACK's packed `b` by data id alone, so a `b` that is
 * a reshape of data already used under another shape would get stale weights:
 * such a `b` is copied to a fresh id first.
 */
const seenShapes = new WeakMap<object, string>();

function materialise(backend: WasmBackend, t: tf.TensorInfo, transposed: boolean): { info: tf.TensorInfo; owned: boolean } {
  if (!transposed) return { info: t, owned: false };
  const rank = t.shape.length;
  const perm = t.shape.map((_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return { info: up.transpose(backend, t, perm), owned: true };
}

/** A `b` safe for the packed-weights cache: fresh when its data id was seen with another shape. */
function safeWeights(backend: WasmBackend, b: { info: tf.TensorInfo; owned: boolean }): { info: tf.TensorInfo; owned: boolean } {
  if (b.owned) return b;
  const key = b.info.shape.join('x');
  const seen = seenShapes.get(b.info.dataId);
  if (seen === undefined) {
    seenShapes.set(b.info.dataId, key);
    return b;
  }
  if (seen === key) return b;
  return { info: copyTensor(backend, b.info), owned: true };
}

function run(
  kernelName: 'BatchMatMul' | '_FusedMatMul',
  args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const ma = materialise(backend, a, attrs.transposeA === true);
  const mb = safeWeights(backend, materialise(backend, b, attrs.transposeB === true));
  const out = callUpstream(
    kernelName,
    backend,
    { ...args.inputs, a: ma.info, b: mb.info },
    { ...args.attrs, transposeA: false, transposeB: false },
  );
  if (ma.owned) backend.disposeData(ma.info.dataId);
  if (mb.owned) backend.disposeData(mb.info.dataId);
  return out;
}

export function batchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  return run('BatchMatMul', args);
}

export function fusedMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  return run('_FusedMatMul', args);
}
