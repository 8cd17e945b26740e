import * as tf from '@tensorflow/tfjs';

import { convGeometry, type ConvGeometry, type ConvPad } from './conv-geometry.js';
import { up } from './upstream-kernels.js';
import { asWasmBackend, disposeView, makeView, reshaped, type WasmBackend } from './wasm-backend.js';

/**
 * Conv2DBackpropFilter (missing upstream) as XNNPACK forward convolutions:
 *   dW[u, v, ci, co] = sum_{b,i,j} x[b, i*s + u - pt, j*s + v - pl, ci] * dy[b, i, j, co]
 * is a convolution whose "batch" is ci, whose "channels" are the images b, and
 * whose filter is dy laid out [Ho, Wo, b, co] with dilation = stride. The batch
 * is cut into chunks of `chunk` images: each chunk's convolution reads a
 * packed filter small enough to stay in cache, and the partial sums are added.
 */
export function conv2dBackpropFilterKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    pad: ConvPad;
    dataFormat?: string;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  const g = convGeometry('Conv2DBackpropFilter', x.shape, attrs.filterShape, attrs.strides, attrs.pad, attrs.dataFormat, attrs.dimRoundingMode);
  return filterGradient(asWasmBackend(args.backend), x, dy, g, chooseChunk(g));
}

/** Images per chunk; per-shape overrides let a caller (or the tuner) pick. */
const chunkOverrides = new Map<string, number>();
// 16 images: measured best or near-best on every CNN conv shape (bench/kernel-filter-grad.ts).
let defaultChunk: number | 'all' = 16;

export function shapeKey(g: ConvGeometry): string {
  return `${g.batch}x${g.inHeight}x${g.inWidth}x${g.inChannels}->${g.outHeight}x${g.outWidth}x${g.outChannels}k${g.filterHeight}x${g.filterWidth}s${g.strideHeight}x${g.strideWidth}`;
}

export function setFilterGradChunk(chunk: number | 'all', key?: string): void {
  if (key === undefined) defaultChunk = chunk;
  else chunkOverrides.set(key, chunk === 'all' ? Number.MAX_SAFE_INTEGER : chunk);
}

export function getFilterGradChunk(): number | 'all' {
  return defaultChunk;
}

function chooseChunk(g: ConvGeometry): number {
  const chosen = chunkOverrides.get(shapeKey(g)) ?? (defaultChunk === 'all' ? g.batch : defaultChunk);
  // Chunks must tile the batch exactly; fall back to the largest divisor.
  let c = Math.max(1, Math.min(chosen, g.batch));
  while (g.batch % c !== 0) c--;
  return c;
}

export function filterGradient(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry, chunk: number): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = g;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  // Bottom/right padding that makes the output exactly kh x kw; when negative
  // (valid padding with a remainder) pad 0 and crop the output instead.
  const pb = kh + (ho - 1) * sh - H - pt;
  const pr = kw + (wo - 1) * sw - W - pl;
  const chunks = B / chunk;

  // x [B,H,W,ci] -> [chunks, ci, H, W, chunk]; dy [B,ho,wo,co] -> [chunks, ho, wo, chunk, co].
  const xT = up.transpose(backend, reshaped(x, [chunks, chunk, H, W, ci]), [0, 4, 2, 3, 1]);
  const dyT = chunk === 1 ? dy : up.transpose(backend, reshaped(dy, [chunks, chunk, ho, wo, co]), [0, 2, 3, 1, 4]);
  const xChunkSize = ci * H * W * chunk;
  const dyChunkSize = ho * wo * chunk * co;
  const partials: tf.TensorInfo[] = [];
  const pad = [
    [0, 0],
    [pt, Math.max(pb, 0)],
    [pl, Math.max(pr, 0)],
    [0, 0],
  ];
  for (let c = 0; c < chunks; c++) {
    const xv = makeView(backend, xT, c * xChunkSize, [ci, H, W, chunk]);
    // A fresh id per chunk: XNNPACK caches the packed filter by id.
    const fv = makeView(backend, dyT, c * dyChunkSize, [ho, wo, chunk, co]);
    partials.push(up.conv2d(backend, xv, fv, [1, 1], pad, [sh, sw]));
    disposeView(backend, xv);
    disposeView(backend, fv);
  }
  backend.disposeData(xT.dataId);
  if (dyT !== dy) backend.disposeData(dyT.dataId);

  let sum = partials[0] as tf.TensorInfo;
  if (partials.length > 1) {
    sum = up.addN(backend, partials);
    for (const p of partials) backend.disposeData(p.dataId);
  }
  // sum is [ci, kh', kw', co]; crop when the padding above was clamped.
  let cropped = sum;
  const outH = sum.shape[1] as number;
  const outW = sum.shape[2] as number;
  if (outH !== kh || outW !== kw) {
    cropped = up.slice(backend, sum, [0, 0, 0, 0], [ci, kh, kw, co]);
    backend.disposeData(sum.dataId);
  }
  const dw = up.transpose(backend, cropped, [1, 2, 0, 3]);
  backend.disposeData(cropped.dataId);
  return dw;
}
