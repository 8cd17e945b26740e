import * as tf from '@tensorflow/tfjs';

import { MaxPoolGradWasm } from '../vector-math/gen/max-pool-grad-wasm.js';
import { callUpstream } from './upstream-kernels.js';
import { asWasmBackend, heapF32, tensorData, type WasmBackend } from './wasm-backend.js';

type PoolGradFn = (x: number, dy: number, dx: number, images: number, H: number, W: number, C: number) => void;

/** WebAssembly as far as used here (lib "dom" is not in this project's types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
let compiled: object | null = null;
const instances = new WeakMap<object, { maxPoolGrad2x2: PoolGradFn }>();

function simdKernel(backend: WasmBackend): PoolGradFn {
  const memory = backend.wasm.asm.memory;
  let k = instances.get(memory);
  if (!k) {
    compiled ??= new wasmApi.Module(MaxPoolGradWasm);
    k = new wasmApi.Instance(compiled, { env: { memory } }).exports as { maxPoolGrad2x2: PoolGradFn };
    instances.set(memory, k);
  }
  return k.maxPoolGrad2x2;
}

/** 'simd': the SIMD kernel for 2x2 windows at stride 2 (vector-math/max-pool-grad.wat) where it fits. */
export type MaxPoolGradPath = 'simd' | 'js';
let path: MaxPoolGradPath = 'simd';

export function setMaxPoolGradPath(p: MaxPoolGradPath): void {
  path = p;
}

/**
 * MaxPoolGrad: each window's dy is added at the first maximum of its input
 * window (row-major order, padding excluded), as the cpu backend does. 2x2
 * windows at stride 2 (the CNN's pools) run on a SIMD kernel, 4 channels at
 * a time; any other pooling in one pass in JS, which is several times faster than upstream's loop on the CNN's 2x2/2
 * pools, and upstream also disagrees with cpu on overlapping padded windows
 * (3x3 stride 2 'same' differed by 43% of the max in our test).
 */
export function maxPoolGradKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const info = maxPoolGradInfo(input, args.attrs);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  if (input.dtype !== 'float32' || info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    return callUpstream('MaxPoolGrad', args.backend, args.inputs, args.attrs);
  }
  const { top: pt, left: pl } = info.padInfo;

  const backend = asWasmBackend(args.backend);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: ho, outWidth: wo } = info;
  const dx = backend.makeOutput(input.shape, 'float32');
  const simdFits =
    fh === 2 &&
    fw === 2 &&
    sh === 2 &&
    sw === 2 &&
    pt === 0 &&
    pl === 0 &&
    ho === H >> 1 &&
    wo === W >> 1 &&
    C % 4 === 0 &&
    B * ho * wo > 0;
  if (path === 'simd' && simdFits) {
    // The kernel writes every element of the rows and columns windows cover.
    if (H % 2 === 1 || W % 2 === 1) heapF32(backend, dx).fill(0);
    const at = (t: tf.TensorInfo): number => tensorData(backend, t).memoryOffset;
    simdKernel(backend)(at(input), at(dy), at(dx), B, H, W, C);
    return dx;
  }
  const x = heapF32(backend, input);
  const g = heapF32(backend, dy);
  const out = heapF32(backend, dx);
  out.fill(0);
  const rowStride = W * C;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < ho; i++) {
      const h0 = i * sh - pt;
      const uStart = Math.max(0, -h0);
      const uEnd = Math.min(fh, H - h0);
      for (let j = 0; j < wo; j++) {
        const w0 = j * sw - pl;
        const vStart = Math.max(0, -w0);
        const vEnd = Math.min(fw, W - w0);
        if (uStart >= uEnd || vStart >= vEnd) continue;
        const corner = ((b * H + h0) * W + w0) * C;
        const gBase = ((b * ho + i) * wo + j) * C;
        for (let c = 0; c < C; c++) {
          let best = corner + uStart * rowStride + vStart * C + c;
          let bestValue = x[best] as number;
          for (let u = uStart; u < uEnd; u++) {
            for (let v = vStart; v < vEnd; v++) {
              const k = corner + u * rowStride + v * C + c;
              if ((x[k] as number) > bestValue) {
                bestValue = x[k] as number;
                best = k;
              }
            }
          }
          out[best] = (out[best] as number) + (g[gBase + c] as number);
        }
      }
    }
  }
  return dx;
}

/** The pooling geometry of a MaxPoolGrad call, from its input and attributes. */
export function maxPoolGradInfo(input: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined): tf.backend_util.Conv2DInfo {
  const a = (attrs ?? {}) as unknown as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: 'valid' | 'same' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  return tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
}
