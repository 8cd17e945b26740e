import * as tf from '@tensorflow/tfjs';

import { maxPoolGradInfo } from '../wasm/max-pool-grad.js';
import { asWasmBackend, heapF32 } from '../wasm/wasm-backend.js';
import { addon, callReplaced, type KernelArgs } from './kernel-context.js';

/** MaxPoolGrad natively: the first maximum of each window gets its dy, as on the cpu backend. */
export function maxPoolGradKernel(args: KernelArgs): tf.TensorInfo {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  if (input.dtype !== 'float32' || dy.dtype !== 'float32' || input.shape.length !== 4) return callReplaced('MaxPoolGrad', args);
  const info = maxPoolGradInfo(input, args.attrs);
  const backend = asWasmBackend(args.backend);
  const dx = backend.makeOutput(input.shape, 'float32');
  if (tf.util.sizeFromShape(input.shape) === 0) return dx;
  const geometry = Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  );
  addon().maxPoolGrad(heapF32(backend, input), heapF32(backend, dy), heapF32(backend, dx), geometry);
  return dx;
}
