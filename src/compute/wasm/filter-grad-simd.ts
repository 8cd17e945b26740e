import type * as tf from '@tensorflow/tfjs';

import { FilterGradWasm } from '../vector-math/gen/filter-grad-wasm.js';
import type { ConvGeometry } from './conv-geometry.js';
import { heapF32, tensorData, type WasmBackend } from './wasm-backend.js';

/**
 * The filter gradient with fleet's own SIMD kernel (vector-math/filter-grad.wat),
 * run in tfjs's wasm memory on its tensors: x is copied once into a zero-padded
 * buffer, then each tap row u of dW is a matrix product over all pixels,
 *   dW[u, (v, c), co] = sum_{b,i,j} xp[b, i*sh + u, j*sw + v, c] * dy[b, i, j, co],
 * in register tiles of 4 x 8. No transposes, no partial sums to add, no
 * operator packing. Work is cut into blocks of pixel rows and output channels
 * whose dy fits in L1 with the x lines a tile reads, so the many tiles of a
 * block read them from L1; the block sizes depend on the shape only.
 */
type TileFn = (
  x: number,
  dy: number,
  out: number,
  r0: number,
  r1: number,
  ho: number,
  wo: number,
  kh: number,
  mP: number,
  coP: number,
  n0: number,
  n1: number,
  imageStride: number,
  rowStride: number,
  sh: number,
  colStep: number,
) => void;
interface TileKernels {
  tile4x8: TileFn;
}

/** WebAssembly as far as used here (lib "dom" is not in this project's types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;
/** One instance per backend memory (a new wasm backend has a new memory). */
const instances = new WeakMap<object, TileKernels>();

function kernelsFor(backend: WasmBackend): TileKernels {
  const memory = backend.wasm.asm.memory;
  let k = instances.get(memory);
  if (!k) {
    compiled ??= new wasmApi.Module(FilterGradWasm);
    k = new wasmApi.Instance(compiled, { env: { memory } }).exports as TileKernels;
    instances.set(memory, k);
  }
  return k;
}

/**
 * Block sizes: a block's dy (rows x channels) plus one x line a pixel should
 * fit in `l1Bytes`; `channels` bounds the channels of a block.
 */
export interface FilterGradBlocking {
  l1Bytes: number;
  channels: number;
}
let blocking: FilterGradBlocking = { l1Bytes: 32 * 1024, channels: 256 };

export function setFilterGradBlocking(b: FilterGradBlocking): void {
  blocking = { ...b };
}

export function getFilterGradBlocking(): FilterGradBlocking {
  return { ...blocking };
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

export function simdFilterGradient(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = g;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  if (B === 0 || ho === 0 || wo === 0 || ci === 0 || co === 0) {
    heapF32(backend, out).fill(0);
    return out;
  }
  // Padded x: exactly the rows and columns the taps reach, zeros outside x.
  const hp = (ho - 1) * sh + kh;
  const wp = (wo - 1) * sw + kw;
  const mU = kw * ci;
  const mP = roundUp(mU, 4);
  const coP = roundUp(co, 8);
  const imageFloats = hp * wp * ci;
  // The last tile of a row reads up to mP - mU floats past the last column.
  const xp = backend.makeOutput([B * imageFloats + mP], 'float32');
  const dyP = coP === co ? dy : backend.makeOutput([B * ho * wo * coP], 'float32');
  const direct = mP === mU && coP === co;
  const acc = direct ? out : backend.makeOutput([kh * mP * coP], 'float32');
  // Views only after every allocation: an allocation may grow the heap.
  const heap = backend.wasm.HEAPF32;
  const xBase = tensorData(backend, x).memoryOffset >>> 2;
  const xpBase = tensorData(backend, xp).memoryOffset >>> 2;
  heap.fill(0, xpBase, xpBase + B * imageFloats + mP);
  const c0 = Math.max(0, pl);
  const c1 = Math.min(wp, W + pl);
  for (let b = 0; b < B; b++) {
    for (let r = Math.max(0, pt); r < Math.min(hp, H + pt); r++) {
      const src = xBase + ((b * H + r - pt) * W + c0 - pl) * ci;
      heap.copyWithin(xpBase + ((b * hp + r) * wp + c0) * ci, src, src + (c1 - c0) * ci);
    }
  }
  if (dyP !== dy) {
    const s0 = tensorData(backend, dy).memoryOffset >>> 2;
    const d0 = tensorData(backend, dyP).memoryOffset >>> 2;
    const pixels = B * ho * wo;
    heap.fill(0, d0, d0 + pixels * coP);
    for (let p = 0; p < pixels; p++) heap.copyWithin(d0 + p * coP, s0 + p * co, s0 + (p + 1) * co);
  }
  const accBase = tensorData(backend, acc).memoryOffset >>> 2;
  heap.fill(0, accBase, accBase + kh * mP * coP);

  const { tile4x8 } = kernelsFor(backend);
  const nb = Math.min(coP, Math.max(8, roundUp(blocking.channels, 8)));
  const rowsPerBlock = Math.max(1, Math.floor(blocking.l1Bytes / (wo * (nb * 4 + 64))));
  const xpBytes = tensorData(backend, xp).memoryOffset;
  const dyBytes = tensorData(backend, dyP).memoryOffset;
  const rows = B * ho;
  for (let r0 = 0; r0 < rows; r0 += rowsPerBlock) {
    const r1 = Math.min(rows, r0 + rowsPerBlock);
    for (let n0 = 0; n0 < coP; n0 += nb) {
      tile4x8(
        xpBytes,
        dyBytes,
        accBase * 4,
        r0,
        r1,
        ho,
        wo,
        kh,
        mP,
        coP,
        n0,
        Math.min(coP, n0 + nb),
        imageFloats * 4,
        wp * ci * 4,
        sh,
        sw * ci * 4,
      );
    }
  }
  backend.disposeData(xp.dataId);
  if (dyP !== dy) backend.disposeData(dyP.dataId);
  if (!direct) {
    // acc is [kh, mP, coP]; out is [kh, kw*ci, co].
    const o0 = tensorData(backend, out).memoryOffset >>> 2;
    for (let u = 0; u < kh; u++) {
      for (let m = 0; m < mU; m++) {
        const s = accBase + (u * mP + m) * coP;
        heap.copyWithin(o0 + (u * mU + m) * co, s, s + co);
      }
    }
    backend.disposeData(acc.dataId);
  }
  return out;
}
