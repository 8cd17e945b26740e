import type * as tf from '@tensorflow/tfjs';

import { callUpstream } from './upstream-kernels.js';
import { asWasmBackend } from './wasm-backend.js';

/**
 * Identity (tf.clone, and every tensor saved for a gradient) sharing the data
 * by reference count, as the cpu backend does, instead of copying it: tensors
 * are immutable, and the XNNPACK caches keyed by data id stay correct (same id,
 * same bytes; BatchMatMul guards the reshape case).
 */
export function identityKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string') return callUpstream('Identity', args.backend, args.inputs, args.attrs);
  const backend = asWasmBackend(args.backend) as unknown as { incRef(dataId: object): void };
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}
