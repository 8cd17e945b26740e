import * as tf from '@tensorflow/tfjs';

import { convGeometry, type ConvBackpropAttrs, type ConvGeometry } from './conv-geometry.js';
import { simdFilterGradient } from './filter-grad-simd.js';
import { up } from './upstream-kernels.js';
import { asWasmBackend, disposeView, makeView, reshaped, type WasmBackend } from './wasm-backend.js';

/**
 * Conv2DBackpropFilter (missing upstream) as XNNPACK forward convolutions:
 *   dW[u, v, ci, co] = sum_{b,i,j} x[b, i*s + u - pt, j*s + v - pl, ci] * dy[b, i, j, co]
 * is a convolution whose "channels" are the images b and whose filter is dy
 * laid out [Ho, Wo, b, co] with dilation = stride (layouts below). The batch
 * is cut into chunks of `chunk` images: each chunk's convolution reads a
 * packed filter small enough to stay in cache, and the partial sums are added.
 */
export function conv2dBackpropFilterKernel(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: object;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as ConvBackpropAttrs & { filterShape: [number, number, number, number] };
  const g = convGeometry(
    'Conv2DBackpropFilter',
    x.shape,
    attrs.filterShape,
    attrs.strides,
    attrs.pad,
    attrs.dataFormat,
    attrs.dimRoundingMode,
  );
  return filterGradient(asWasmBackend(args.backend), x, dy, g, chooseChunk(g));
}

/**
 * Images per chunk. 'auto' aims at about CHUNK_PIXELS dy pixels per chunk
 * (4 images at 32x32, 16 at 16x16, 64 at 8x8): the chunk's packed filter
 * panel then stays in L2. Measured on the CNN's shapes (bench/kernel-filter-grad.ts)
 * this was best or within noise of best per shape. The choice depends on the
 * shape only, never on timings, so runs stay bit-for-bit reproducible.
 */
export type FilterGradChunk = number | 'all' | 'auto';
const CHUNK_PIXELS = 4096;
const chunkOverrides = new Map<string, number>();
let defaultChunk: FilterGradChunk = 'auto';

export function shapeKey(g: ConvGeometry): string {
  return `${g.batch}x${g.inHeight}x${g.inWidth}x${g.inChannels}->${g.outHeight}x${g.outWidth}x${g.outChannels}k${g.filterHeight}x${g.filterWidth}s${g.strideHeight}x${g.strideWidth}`;
}

/** Sets the chunk for every shape, or (with `key` from shapeKey) for one shape. */
export function setFilterGradChunk(chunk: FilterGradChunk, key?: string): void {
  if (key === undefined) {
    defaultChunk = chunk;
    chunkOverrides.clear();
  } else if (chunk === 'auto') {
    chunkOverrides.delete(key);
  } else {
    chunkOverrides.set(key, resolveChunk(chunk, 0));
  }
}

export function getFilterGradChunk(): FilterGradChunk {
  return defaultChunk;
}

function resolveChunk(chunk: FilterGradChunk, outPixels: number): number {
  if (chunk === 'all') return Number.MAX_SAFE_INTEGER;
  if (chunk === 'auto') return 2 ** Math.round(Math.log2(Math.max(1, CHUNK_PIXELS / Math.max(1, outPixels))));
  return chunk;
}

function chooseChunk(g: ConvGeometry): number {
  const chosen = chunkOverrides.get(shapeKey(g)) ?? resolveChunk(defaultChunk, g.outHeight * g.outWidth);
  // Chunks must tile the batch exactly; fall back to the largest divisor.
  let c = Math.max(1, Math.min(chosen, g.batch));
  while (g.batch % c !== 0) c--;
  return c;
}

/**
 * How the filter gradient is computed:
 *   'simd':  fleet's own SIMD kernel (filter-grad-simd.ts); the chunk is ignored.
 * or laid out as an XNNPACK forward convolution:
 *   'batch': ci is the conv batch, 3x3 = 9 output pixels per image. XNNPACK
 *            tiles output pixels per image (6 or 4 rows), so 9 wastes 25%.
 *   'wide':  one image whose width axis is (W, ci) flattened, filter dilated
 *            by ci along it: kh x (kw * ci) output pixels (576 for ci = 64),
 *            full tiles, and the output is already [kh, kw, ci, co].
 */
export type FilterGradLayout = 'batch' | 'wide' | 'simd';
let layout: FilterGradLayout = 'simd';

export function setFilterGradLayout(l: FilterGradLayout): void {
  layout = l;
}

export function getFilterGradLayout(): FilterGradLayout {
  return layout;
}

export function filterGradient(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry, chunk: number): tf.TensorInfo {
  if (layout === 'simd') return simdFilterGradient(backend, x, dy, g);
  return layout === 'wide' ? filterGradientWide(backend, x, dy, g, chunk) : filterGradientBatch(backend, x, dy, g, chunk);
}

/** Bottom/right padding that makes the output exactly kh x kw (negative: crop instead). */
function trailingPads(g: ConvGeometry): { pb: number; pr: number } {
  return {
    pb: g.filterHeight + (g.outHeight - 1) * g.strideHeight - g.inHeight - g.padTop,
    pr: g.filterWidth + (g.outWidth - 1) * g.strideWidth - g.inWidth - g.padLeft,
  };
}

/** Runs one conv per chunk of `chunk` images on views, and sums the partial results. */
function chunkedConvs(
  backend: WasmBackend,
  xT: tf.TensorInfo,
  dyT: tf.TensorInfo,
  chunks: number,
  xChunkShape: number[],
  dyChunkShape: number[],
  conv: (xv: tf.TensorInfo, fv: tf.TensorInfo) => tf.TensorInfo,
): tf.TensorInfo {
  const xChunkSize = tf.util.sizeFromShape(xChunkShape);
  const dyChunkSize = tf.util.sizeFromShape(dyChunkShape);
  const partials: tf.TensorInfo[] = [];
  for (let c = 0; c < chunks; c++) {
    const xv = makeView(backend, xT, c * xChunkSize, xChunkShape);
    // A fresh id per chunk: XNNPACK caches the packed filter by id.
    const fv = makeView(backend, dyT, c * dyChunkSize, dyChunkShape);
    partials.push(conv(xv, fv));
    disposeView(backend, xv);
    disposeView(backend, fv);
  }
  if (partials.length === 1) return partials[0] as tf.TensorInfo;
  const sum = up.addN(backend, partials);
  for (const p of partials) backend.disposeData(p.dataId);
  return sum;
}

function filterGradientWide(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry, chunk: number): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = g;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  const { pb, pr } = trailingPads(g);
  const chunks = B / chunk;
  // x -> [chunks, H, W*ci, chunk] and dy -> [chunks, ho, wo, chunk, co]; the
  // shapes given to Transpose are merged so it runs its 2-D/3-D loops.
  const xT = up.transpose(backend, reshaped(x, [chunks, chunk, H * W * ci]), [0, 2, 1]);
  const dyT = chunk === 1 ? dy : up.transpose(backend, reshaped(dy, [chunks, chunk, ho * wo, co]), [0, 2, 1, 3]);
  const pad = [
    [0, 0],
    [pt, Math.max(pb, 0)],
    [pl * ci, Math.max(pr, 0) * ci],
    [0, 0],
  ];
  const sum = chunkedConvs(backend, xT, dyT, chunks, [1, H, W * ci, chunk], [ho, wo, chunk, co], (xv, fv) =>
    up.conv2d(backend, xv, fv, [1, 1], pad, [sh, sw * ci]),
  );
  backend.disposeData(xT.dataId);
  if (dyT !== dy) backend.disposeData(dyT.dataId);
  // sum is [1, kh', kw' * ci, co]; crop when the padding above was clamped.
  const outH = sum.shape[1] as number;
  const outW = (sum.shape[2] as number) / ci;
  if (outH === kh && outW === kw) return reshaped(sum, [kh, kw, ci, co]);
  const cropped = up.slice(backend, reshaped(sum, [outH, outW, ci, co]), [0, 0, 0, 0], [kh, kw, ci, co]);
  backend.disposeData(sum.dataId);
  return cropped;
}

function filterGradientBatch(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry, chunk: number): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = g;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  const { pb, pr } = trailingPads(g);
  const chunks = B / chunk;
  // x [B,H,W,ci] -> [chunks, ci, H, W, chunk]; dy [B,ho,wo,co] -> [chunks, ho, wo, chunk, co].
  const xT = up.transpose(backend, reshaped(x, [chunks, chunk, H * W, ci]), [0, 3, 2, 1]);
  const dyT = chunk === 1 ? dy : up.transpose(backend, reshaped(dy, [chunks, chunk, ho * wo, co]), [0, 2, 1, 3]);
  const pad = [
    [0, 0],
    [pt, Math.max(pb, 0)],
    [pl, Math.max(pr, 0)],
    [0, 0],
  ];
  const sum = chunkedConvs(backend, xT, dyT, chunks, [ci, H, W, chunk], [ho, wo, chunk, co], (xv, fv) =>
    up.conv2d(backend, xv, fv, [1, 1], pad, [sh, sw]),
  );
  backend.disposeData(xT.dataId);
  if (dyT !== dy) backend.disposeData(dyT.dataId);
  // sum is [ci, kh', kw', co]; crop when the padding above was clamped.
  let cropped = sum;
  if (sum.shape[1] !== kh || sum.shape[2] !== kw) {
    cropped = up.slice(backend, sum, [0, 0, 0, 0], [ci, kh, kw, co]);
    backend.disposeData(sum.dataId);
  }
  const dw = up.transpose(backend, cropped, [1, 2, 0, 3]);
  backend.disposeData(cropped.dataId);
  return dw;
}
