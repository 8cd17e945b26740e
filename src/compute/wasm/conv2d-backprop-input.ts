import type * as tf from '@tensorflow/tfjs';

import { convGeometry, type ConvBackpropAttrs, type ConvGeometry } from './conv-geometry.js';
import { up } from './upstream-kernels.js';
import { simdInputGradient, simdInputGradientFits } from './input-grad-simd.js';
import { asWasmBackend, heapF32, type WasmBackend } from './wasm-backend.js';

/**
 * 'simd': fleet's own SIMD kernel (input-grad-simd.ts) where it fits (rows of
 * at least 4 pixels), else XNNPACK; 'xnnpack': one XNNPACK forward convolution.
 */
export type InputGradLayout = 'simd' | 'xnnpack';
let inputLayout: InputGradLayout = 'simd';

export function setInputGradLayout(l: InputGradLayout): void {
  inputLayout = l;
}

export function getInputGradLayout(): InputGradLayout {
  return inputLayout;
}

/**
 * Conv2DBackpropInput as one XNNPACK forward convolution (upstream is a naive
 * loop, about 10x slower): dx is the stride-1 correlation of dy, dilated by
 * the stride and padded by (k - 1 - pad), with the filter flipped in space and
 * its in/out channels swapped.
 */
export function conv2dBackpropInputKernel(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: object;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as ConvBackpropAttrs & { inputShape: [number, number, number, number] };
  const g = convGeometry(
    'Conv2DBackpropInput',
    attrs.inputShape,
    filter.shape,
    attrs.strides,
    attrs.pad,
    attrs.dataFormat,
    attrs.dimRoundingMode,
  );
  return inputGradient(asWasmBackend(args.backend), dy, filter, g);
}

export function inputGradient(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  if (inputLayout === 'simd' && simdInputGradientFits(g)) return simdInputGradient(backend, dy, filter, g);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  // [kh,kw,ci,co] -> flipped in space, [kh,kw,co,ci]. Fresh id each call, so
  // XNNPACK's per-filter-id operator cache never serves stale weights.
  const flippedOnly = kh === 1 && kw === 1 ? null : up.reverse(backend, filter, [0, 1]);
  const flipped = up.transpose(backend, flippedOnly ?? filter, [0, 1, 3, 2]);
  if (flippedOnly) backend.disposeData(flippedOnly.dataId);

  const top = kh - 1 - pt;
  const left = kw - 1 - pl;
  const bottom = g.inHeight + pt - g.outHeight;
  const right = g.inWidth + pl - g.outWidth;
  let dx: tf.TensorInfo;
  if (sh === 1 && sw === 1 && top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    const pad = [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ];
    dx = up.conv2d(backend, dy, flipped, [1, 1], pad);
  } else {
    const spread = dilateAndPad(backend, dy, g);
    dx = up.conv2d(backend, spread, flipped, [1, 1], 'valid');
    backend.disposeData(spread.dataId);
  }
  backend.disposeData(flipped.dataId);
  return dx;
}

/**
 * dy placed at rows top + i*s, columns left + j*s of a zero tensor of
 * [B, H + kh - 1, W + kw - 1, co], so a 'valid' stride-1 convolution with the
 * flipped filter yields dx exactly. Entries falling outside never contribute.
 */
function dilateAndPad(backend: WasmBackend, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { batch: B, outHeight: ho, outWidth: wo, outChannels: co, filterHeight: kh, filterWidth: kw } = g;
  const hd = g.inHeight + kh - 1;
  const wd = g.inWidth + kw - 1;
  const top = kh - 1 - g.padTop;
  const left = kw - 1 - g.padLeft;
  const out = backend.makeOutput([B, hd, wd, co], 'float32');
  const dst = heapF32(backend, out);
  const src = heapF32(backend, dy);
  dst.fill(0);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < ho; i++) {
      const r = top + i * g.strideHeight;
      if (r < 0 || r >= hd) continue;
      for (let j = 0; j < wo; j++) {
        const c = left + j * g.strideWidth;
        if (c < 0 || c >= wd) continue;
        const s = ((b * ho + i) * wo + j) * co;
        dst.set(src.subarray(s, s + co), ((b * hd + r) * wd + c) * co);
      }
    }
  }
  return out;
}
