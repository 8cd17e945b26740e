import { HalfKernelsWasm } from './gen/half-kernels-wasm.js';

/**
 * float32 <-> float16 / bfloat16 conversion kernels (half-kernels.wat,
 * WebAssembly SIMD), rounding to nearest, ties to even. The arrays are
 * staged through the module's own small memory in blocks that stay in
 * cache; the kernels convert whole groups of 8 values and leave the rest
 * (fewer than 8) to the caller.
 */
interface HalfExports {
  f32ToF16(src: number, dst: number, n: number): number;
  f32ToBf16(src: number, dst: number, n: number): number;
  f16ToF32(src: number, dst: number, n: number): void;
  bf16ToF32(src: number, dst: number, n: number): void;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum?: number }) => { readonly buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export type HalfFormat = 'float16' | 'bfloat16';

/** Values a block: 128 KiB of float32 and 64 KiB of 16-bit values. */
const BLOCK = 32768;
const FLOATS_AT = 0;
const HALVES_AT = BLOCK * 4;

let instance: { kernels: HalfExports; bytes: Uint8Array } | null = null;

function kernels(): { kernels: HalfExports; bytes: Uint8Array } {
  if (!instance) {
    const pages = Math.ceil((BLOCK * 6) / 65536);
    const memory = new wasm.Memory({ initial: pages, maximum: pages });
    const exports = new wasm.Instance(new wasm.Module(HalfKernelsWasm), { env: { memory } }).exports as HalfExports;
    instance = { kernels: exports, bytes: new Uint8Array(memory.buffer) };
  }
  return instance;
}

function bytesOf(array: Uint32Array | Uint16Array, start: number, n: number): Uint8Array {
  const size = array.BYTES_PER_ELEMENT;
  return new Uint8Array(array.buffer, array.byteOffset + start * size, n * size);
}

/**
 * Converts the first floor(n / 8) * 8 float32 values (as bits) of `src`
 * into `dst`; returns how many it converted and whether a finite value
 * became +-Infinity (overflow) among them.
 */
export function floatsToHalves(format: HalfFormat, src: Uint32Array, dst: Uint16Array): { converted: number; overflow: boolean } {
  const { kernels: k, bytes } = kernels();
  const total = Math.min(src.length, dst.length) & ~7;
  const convert = format === 'float16' ? k.f32ToF16 : k.f32ToBf16;
  let overflow = false;
  for (let start = 0; start < total; start += BLOCK) {
    const n = Math.min(BLOCK, total - start);
    bytes.set(bytesOf(src, start, n), FLOATS_AT);
    if (convert(FLOATS_AT, HALVES_AT, n) !== 0) overflow = true;
    bytesOf(dst, start, n).set(bytes.subarray(HALVES_AT, HALVES_AT + n * 2));
  }
  return { converted: total, overflow };
}

/** Converts the first floor(n / 8) * 8 16-bit values of `src` into float32 bits in `dst` (exact); returns how many. */
export function halvesToFloats(format: HalfFormat, src: Uint16Array, dst: Uint32Array): number {
  const { kernels: k, bytes } = kernels();
  const total = Math.min(src.length, dst.length) & ~7;
  const convert = format === 'float16' ? k.f16ToF32 : k.bf16ToF32;
  for (let start = 0; start < total; start += BLOCK) {
    const n = Math.min(BLOCK, total - start);
    bytes.set(bytesOf(src, start, n), HALVES_AT);
    convert(HALVES_AT, FLOATS_AT, n);
    bytesOf(dst, start, n).set(bytes.subarray(FLOATS_AT, FLOATS_AT + n * 4));
  }
  return total;
}
