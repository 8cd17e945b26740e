import type * as tf from '@tensorflow/tfjs';

import { InputGradWasm } from '../vector-math/gen/input-grad-wasm.js';
import type { ConvGeometry } from './conv-geometry.js';
import { tensorData, type WasmBackend } from './wasm-backend.js';

/**
 * The convolution input gradient with fleet's own SIMD kernel
 * (vector-math/input-grad.wat), in tfjs's wasm memory on its tensors: dy is
 * copied once into a zero-padded buffer (spread by the stride), the filter
 * flipped in space into panels of 8 input channels, then
 *   dx[b, h, w, c] = sum_{u, v, o} dyp[b, h + u, w + v, o] * W[kh-1-u, kw-1-v, c, o]
 * in register tiles of 4 pixels x 8 channels, each written once. Images go
 * to the kernel in groups whose padded dy stays in L2 across the channel
 * panels; the grouping depends on the shape only.
 */
type TileFn = (
  dyp: number,
  wp: number,
  dx: number,
  images: number,
  H: number,
  W: number,
  kh: number,
  kk: number,
  ciP: number,
  imageStride: number,
  rowStride: number,
  pixel: number,
) => void;

/** WebAssembly as far as used here (lib "dom" is not in this project's types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;
const instances = new WeakMap<object, { tile4x8: TileFn }>();

function kernelFor(backend: WasmBackend): TileFn {
  const memory = backend.wasm.asm.memory;
  let k = instances.get(memory);
  if (!k) {
    compiled ??= new wasmApi.Module(InputGradWasm);
    k = new wasmApi.Instance(compiled, { env: { memory } }).exports as { tile4x8: TileFn };
    instances.set(memory, k);
  }
  return k.tile4x8;
}

/** Bytes of padded dy an image group should span (L2 is 2 MiB a core here, 512 KiB on Zen 3). */
const GROUP_BYTES = 512 * 1024;

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Whether the kernel covers this geometry (rows of at least one 4-pixel tile). */
export function simdInputGradientFits(g: ConvGeometry): boolean {
  return g.inWidth >= 4;
}

export function simdInputGradient(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = g;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = g;
  const dx = backend.makeOutput([B, H, W, ci], 'float32');
  const ciP = roundUp(ci, 8);
  // dyp[b, r, c] holds dy[b, i, j] at r = top + i*sh, c = left + j*sw: then
  // dx is the 'valid' stride-1 correlation of dyp with the flipped filter.
  const hp = H + kh - 1;
  const wpx = W + kw - 1;
  const top = kh - 1 - g.padTop;
  const left = kw - 1 - g.padLeft;
  const imageFloats = hp * wpx * co;
  const kk = kw * co;
  const dyp = backend.makeOutput([B * imageFloats], 'float32');
  const wp = backend.makeOutput([(ciP / 8) * kh * kk * 8], 'float32');
  const direct = ciP === ci;
  const acc = direct ? dx : backend.makeOutput([B * H * W * ciP], 'float32');
  // Views only after every allocation: an allocation may grow the heap.
  const heap = backend.wasm.HEAPF32;
  const dyBase = tensorData(backend, dy).memoryOffset >>> 2;
  const dypBase = tensorData(backend, dyp).memoryOffset >>> 2;
  heap.fill(0, dypBase, dypBase + B * imageFloats);
  // Output columns j whose spread column lands inside dyp.
  const j0 = Math.max(0, Math.ceil(-left / sw));
  const j1 = Math.min(wo, Math.floor((wpx - 1 - left) / sw) + 1);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < ho; i++) {
      const r = top + i * sh;
      if (r < 0 || r >= hp || j1 <= j0) continue;
      const src = dyBase + ((b * ho + i) * wo + j0) * co;
      const dst = dypBase + (b * hp + r) * wpx * co + (left + j0 * sw) * co;
      if (sw === 1) heap.copyWithin(dst, src, src + (j1 - j0) * co);
      else for (let j = j0; j < j1; j++) heap.copyWithin(dst + (j - j0) * sw * co, src + (j - j0) * co, src + (j - j0 + 1) * co);
    }
  }
  // wp[c / 8][u][v*co + o][c % 8] = filter[kh-1-u][kw-1-v][c][o] (zero past ci).
  const fBase = tensorData(backend, filter).memoryOffset >>> 2;
  const wpBase = tensorData(backend, wp).memoryOffset >>> 2;
  heap.fill(0, wpBase, wpBase + (ciP / 8) * kh * kk * 8);
  for (let c = 0; c < ci; c++) {
    const panel = wpBase + (c >> 3) * kh * kk * 8 + (c & 7);
    for (let u = 0; u < kh; u++) {
      for (let v = 0; v < kw; v++) {
        const f = fBase + (((kh - 1 - u) * kw + (kw - 1 - v)) * ci + c) * co;
        const d = panel + (u * kk + v * co) * 8;
        for (let o = 0; o < co; o++) heap[d + o * 8] = heap[f + o] as number;
      }
    }
  }

  const tile = kernelFor(backend);
  const group = Math.max(1, Math.floor(GROUP_BYTES / (imageFloats * 4)));
  const dypBytes = dypBase * 4;
  const accBytes = tensorData(backend, acc).memoryOffset;
  for (let b0 = 0; b0 < B; b0 += group) {
    const images = Math.min(group, B - b0);
    tile(
      dypBytes + b0 * imageFloats * 4,
      wpBase * 4,
      accBytes + b0 * H * W * ciP * 4,
      images,
      H,
      W,
      kh,
      kk,
      ciP,
      imageFloats * 4,
      wpx * co * 4,
      co * 4,
    );
  }
  backend.disposeData(dyp.dataId);
  backend.disposeData(wp.dataId);
  if (!direct) {
    const a0 = accBytes >>> 2;
    const d0 = tensorData(backend, dx).memoryOffset >>> 2;
    for (let p = 0; p < B * H * W; p++) heap.copyWithin(d0 + p * ci, a0 + p * ciP, a0 + p * ciP + ci);
    backend.disposeData(acc.dataId);
  }
  return dx;
}
