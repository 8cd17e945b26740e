import { VectorKernelsWasm } from './gen/vector-kernels-wasm.js';

/**
 * Float32 vector kernels (vector-kernels.wat, WebAssembly SIMD) and the
 * memory they run in. A JS loop over a Float32Array costs ~3 ns a float in
 * V8 (each element goes to double and back); the coordinator runs such loops
 * over every contribution (sum), every round (average, SGD) and every
 * received set (finite scan). These kernels run near memory speed.
 *
 * Arrays allocated in a VectorMemory (`zeros`, `adopt`) are worked on in
 * place. Any other Float32Array works too: it is staged through a small
 * scratch area in blocks, a copy in (and out) that stays in cache, still
 * several times cheaper than the JS loop.
 */
interface KernelExports {
  axpy(y: number, x: number, n: number, a: number): void;
  scale(y: number, n: number, a: number): void;
  firstNonFinite(p: number, n: number): number;
  accumulate(out: number, s: number, x: number, n: number, a: number): number;
  sgd(p: number, m: number, g: number, n: number, lr: number, momentum: number, weightDecay: number, useBuffer: number): void;
}

/** The part of the WebAssembly API used here (Node's global; lib "dom" is not in this project's types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE_BYTES = 65536;
const FLOAT_BYTES = 4;
/** wasm32's ceiling: 65536 pages of 64 KiB. */
const MAX_PAGES = 65536;
/** Floats per staging slot: three 128 KiB slots stay in L2 together. */
const STAGE_FLOATS = 32768;
const STAGE_SLOTS = 3;
const STAGE_BYTES = STAGE_SLOTS * STAGE_FLOATS * FLOAT_BYTES;
/** Arena allocations start on cache lines; an arena has room for this many arrays' padding. */
const ALIGN_BYTES = 64;
const ALIGN_SLACK_BYTES = 8 * ALIGN_BYTES;

let compiled: object | null = null;
/** Which VectorMemory a buffer belongs to: kernels work in place when every operand is in the same one. */
const owners = new WeakMap<ArrayBufferLike, VectorMemory>();
let stagingMemory: VectorMemory | null = null;

type Operand = Float32Array | Int32Array;

export class VectorMemory {
  private readonly kernels: KernelExports;
  private readonly bytes: Uint8Array;
  private nextByte = STAGE_BYTES;
  private readonly endByte: number;

  private constructor(
    private readonly memory: WasmMemory,
    arenaBytes: number,
  ) {
    compiled ??= new wasm.Module(VectorKernelsWasm);
    this.kernels = new wasm.Instance(compiled, { env: { memory } }).exports as unknown as KernelExports;
    this.bytes = new Uint8Array(memory.buffer);
    this.endByte = STAGE_BYTES + arenaBytes;
    owners.set(memory.buffer, this);
  }

  /**
   * A memory with room for `floats` floats of arrays (rounded up for
   * alignment), allocated now and never grown: growing would detach every
   * array handed out. Past wasm32's 4 GiB, or when the allocation fails, the
   * memory has no arena: zeros/adopt then return ordinary arrays.
   */
  static create(floats: number): VectorMemory {
    const arenaBytes = floats > 0 ? floats * FLOAT_BYTES + ALIGN_SLACK_BYTES : 0;
    const wanted = Math.ceil((STAGE_BYTES + arenaBytes) / PAGE_BYTES);
    const minimal = Math.ceil(STAGE_BYTES / PAGE_BYTES);
    if (wanted <= MAX_PAGES) {
      try {
        return new VectorMemory(new wasm.Memory({ initial: wanted, maximum: wanted }), arenaBytes);
      } catch {
        // Out of memory for the arena: fall through to a staging-only memory.
      }
    }
    return new VectorMemory(new wasm.Memory({ initial: minimal, maximum: minimal }), 0);
  }

  /** A zeroed array of `length` floats in this memory, or an ordinary one when the arena is full. */
  zeros(length: number): Float32Array {
    const start = Math.ceil(this.nextByte / ALIGN_BYTES) * ALIGN_BYTES;
    const end = start + length * FLOAT_BYTES;
    if (end > this.endByte) return new Float32Array(length);
    this.nextByte = end;
    return new Float32Array(this.memory.buffer, start, length);
  }

  /** A copy of `values` in this memory (or `values` itself when the arena is full). */
  adopt(values: Float32Array): Float32Array {
    if (this.owns(values)) return values;
    const copy = this.zeros(values.length);
    if (!this.owns(copy)) return values;
    copy.set(values);
    return copy;
  }

  owns(array: ArrayBufferView): boolean {
    return array.buffer === this.memory.buffer;
  }

  /** y += a * x */
  axpy(y: Float32Array, x: Float32Array, a: number): void {
    sameLengths(y, x);
    if (this.owns(y) && this.owns(x)) this.kernels.axpy(y.byteOffset, x.byteOffset, y.length, a);
    else this.staged([y, x], [true, false], (p, n) => this.kernels.axpy(p[0]!, p[1]!, n, a));
  }

  /** y *= a */
  scale(y: Float32Array, a: number): void {
    if (this.owns(y)) this.kernels.scale(y.byteOffset, y.length, a);
    else this.staged([y], [true], (p, n) => this.kernels.scale(p[0]!, n, a));
  }

  /** Index of the first NaN or +-Infinity among `words` (float32 bit patterns), or -1. */
  firstNonFinite(words: Operand): number {
    if (this.owns(words)) return this.kernels.firstNonFinite(words.byteOffset, words.length);
    let found = -1;
    this.staged([words], [false], (p, n, start) => {
      const at = this.kernels.firstNonFinite(p[0]!, n);
      if (at >= 0) found = start + at;
      return at >= 0;
    });
    return found;
  }

  /**
   * out = s + a * x, with x's finite scan in the same pass: the index of x's
   * first NaN or +-Infinity (out is then partly written), or -1.
   */
  accumulate(out: Float32Array, s: Float32Array, x: Float32Array, a: number): number {
    sameLengths(out, s, x);
    if (this.owns(out) && this.owns(s) && this.owns(x))
      return this.kernels.accumulate(out.byteOffset, s.byteOffset, x.byteOffset, out.length, a);
    let found = -1;
    this.staged([out, s, x], [true, false, false], (p, n, start) => {
      const at = this.kernels.accumulate(p[0]!, p[1]!, p[2]!, n, a);
      if (at >= 0) found = start + at;
      return at >= 0;
    });
    return found;
  }

  /**
   * One SGD step with momentum and weight decay (PyTorch's rule, as
   * training/sgd-momentum.ts): g' = grads + wd*params; buf = momentum*buf + g'
   * (buf = g' when `useBuffer` is false: the first step, or no momentum);
   * params -= lr*buf. Arrays of equal length.
   */
  sgd(
    params: Float32Array,
    buffer: Float32Array,
    grads: Float32Array,
    h: { lr: number; momentum: number; weightDecay: number; useBuffer: boolean },
  ): void {
    sameLengths(params, buffer, grads);
    const use = h.useBuffer ? 1 : 0;
    if (this.owns(params) && this.owns(buffer) && this.owns(grads)) {
      this.kernels.sgd(params.byteOffset, buffer.byteOffset, grads.byteOffset, params.length, h.lr, h.momentum, h.weightDecay, use);
    } else {
      this.staged([params, buffer, grads], [true, true, false], (p, n) =>
        this.kernels.sgd(p[0]!, p[1]!, p[2]!, n, h.lr, h.momentum, h.weightDecay, use),
      );
    }
  }

  /**
   * Runs `kernel` block by block on copies of the operands in the staging
   * slots; operands marked `written` are copied back. A kernel returning
   * true stops the walk (a scan that found its answer).
   */
  private staged(operands: Operand[], written: boolean[], kernel: (pointers: number[], n: number, start: number) => unknown): void {
    const length = operands[0]!.length;
    const pointers = operands.map((_, i) => i * STAGE_FLOATS * FLOAT_BYTES);
    for (let start = 0; start < length; start += STAGE_FLOATS) {
      const n = Math.min(STAGE_FLOATS, length - start);
      for (const [i, o] of operands.entries()) this.bytes.set(bytesOf(o, start, n), pointers[i]!);
      const stop = kernel(pointers, n, start);
      operands.forEach((o, i) => {
        if (written[i]) bytesOf(o, start, n).set(this.bytes.subarray(pointers[i]!, pointers[i]! + n * FLOAT_BYTES));
      });
      if (stop === true) return;
    }
  }
}

function sameLengths(...operands: Operand[]): void {
  if (operands.some((o) => o.length !== operands[0]!.length)) {
    throw new RangeError(`vector kernel operands differ in length: ${operands.map((o) => o.length).join(', ')}`);
  }
}

function bytesOf(array: Operand, start: number, n: number): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset + start * FLOAT_BYTES, n * FLOAT_BYTES);
}

/** The memory that works on `first` in place, or the shared staging memory. */
export function vectorMemoryOf(first: ArrayBufferView): VectorMemory {
  const owner = owners.get(first.buffer);
  if (owner) return owner;
  stagingMemory ??= VectorMemory.create(0);
  return stagingMemory;
}

/** y += a * x, in y's memory when x is there too, else staged. */
export function axpy(y: Float32Array, x: Float32Array, a: number): void {
  vectorMemoryOf(y).axpy(y, x, a);
}

/** y *= a */
export function scale(y: Float32Array, a: number): void {
  vectorMemoryOf(y).scale(y, a);
}

/** Index of the first NaN or +-Infinity among float32 bit patterns, or -1. */
export function firstNonFiniteWord(words: Operand): number {
  return vectorMemoryOf(words).firstNonFinite(words);
}

/** One SGD step in place (VectorMemory.sgd). */
export function sgdStep(
  params: Float32Array,
  buffer: Float32Array,
  grads: Float32Array,
  h: { lr: number; momentum: number; weightDecay: number; useBuffer: boolean },
): void {
  vectorMemoryOf(params).sgd(params, buffer, grads, h);
}
