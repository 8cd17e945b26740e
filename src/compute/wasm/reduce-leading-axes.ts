import * as tf from '@tensorflow/tfjs';

import { callUpstream, up } from './upstream-kernels.js';
import { asWasmBackend, disposeView, heapF32, makeView, type WasmBackend } from './wasm-backend.js';

/**
 * Sum and Mean over the leading axes of a float32 tensor (per-channel sums of
 * NHWC activations: BatchNorm statistics, bias gradients). Upstream first
 * transposes the whole tensor so the reduced axes are innermost (about 62 ms
 * over [128,32,32,64]); a JS loop takes about 21 ms. Here the rows are summed
 * pairwise by halves with XNNPACK's Add on views of the two halves (about 8 ms,
 * and pairwise summation is also more accurate). Any other reduction goes
 * upstream.
 */
function reduceLeading(
  kernelName: 'Sum' | 'Mean',
  args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const attrs = (args.attrs ?? {}) as { axis: number | number[]; keepDims?: boolean };
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== 'float32') return callUpstream(kernelName, args.backend, args.inputs, args.attrs);

  const backend = asWasmBackend(args.backend);
  const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const keptShape = x.shape.slice(axes.length);
  const cols = keptShape.reduce((a, b) => a * b, 1);
  const outShape = attrs.keepDims ? [...axes.map(() => 1), ...keptShape] : keptShape;
  const sums = sumRows(backend, x, rows, cols);
  const out = backend.makeOutput(outShape, 'float32');
  const scale = kernelName === 'Mean' && rows > 0 ? 1 / rows : 1;
  const dst = heapF32(backend, out);
  for (let c = 0; c < cols; c++) dst[c] = (sums[c] as number) * scale;
  return out;
}

/** Column sums of x seen as [rows, cols]: halves added until one row is left. */
function sumRows(backend: WasmBackend, x: tf.TensorInfo, rows: number, cols: number): Float64Array {
  const acc = new Float64Array(cols);
  if (rows === 0) return acc;
  let cur = x;
  let n = rows;
  while (n > 1) {
    const half = n >> 1;
    if (n % 2 === 1) addRow(acc, heapF32(backend, cur), (n - 1) * cols);
    const lo = makeView(backend, cur, 0, [half, cols]);
    const hi = makeView(backend, cur, half * cols, [half, cols]);
    const next = up.add(backend, lo, hi);
    disposeView(backend, lo);
    disposeView(backend, hi);
    if (cur !== x) backend.disposeData(cur.dataId);
    cur = next;
    n = half;
  }
  addRow(acc, heapF32(backend, cur), 0);
  if (cur !== x) backend.disposeData(cur.dataId);
  return acc;
}

function addRow(acc: Float64Array, src: Float32Array, offset: number): void {
  for (let c = 0; c < acc.length; c++) acc[c] = (acc[c] as number) + (src[offset + c] as number);
}

export function sumKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  return reduceLeading('Sum', args);
}

export function meanKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  return reduceLeading('Mean', args);
}
