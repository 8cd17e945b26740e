import { FLOAT32_BYTES, bytesPerElement, checkLayout, type TensorEntry } from './tensor-layout.js';
import { tensorSetCrc32c, type TensorSet } from './tensor-set.js';
import { firstNonFiniteWord } from '../compute/vector-math/index.js';
import { decodeHalf, type HalfDtype } from './half-floats.js';
import {
  MissingTensorError,
  NonFiniteTensorError,
  TensorChecksumError,
  TensorDtypeError,
  TensorLayoutError,
  TensorShapeError,
  TensorSetError,
  UnknownTensorError,
} from './tensor-set-errors.js';

export interface CheckOptions {
  /** Recompute the CRC-32C (default true; the assembler has already checked a received set). */
  crc?: boolean;
  /** Scan for NaN and +-Infinity (default true). */
  finite?: boolean;
}

/**
 * Checks a tensor set against the model's manifest (its planned entries):
 * names, dtype, shapes and trainable flags first, then the set's own layout
 * (offsets, lengths, total), then the CRC, then that every value is finite.
 * Throws the first fault found as a TensorSetError subclass.
 */
export function checkTensorSet(set: TensorSet, expected: readonly TensorEntry[], options: CheckOptions = {}): void {
  checkAgainstModel(set.entries, expected);
  checkLayout(set.entries, set.buffer.byteLength);
  if (options.crc ?? true) {
    const got = tensorSetCrc32c(set.buffer);
    if (got !== set.crc32c) throw new TensorChecksumError(set.crc32c, got);
  }
  if (options.finite ?? true) checkFinite(set.entries, set.buffer);
}

/** Same names (none unknown, none missing), dtype, shape and trainable flag as the model's entries. */
export function checkAgainstModel(entries: readonly TensorEntry[], expected: readonly TensorEntry[]): void {
  const wanted = new Map(expected.map((e) => [e.name, e]));
  for (const e of entries) {
    if (!wanted.has(e.name)) throw new UnknownTensorError(e.name);
  }
  const have = new Set(entries.map((e) => e.name));
  const missing = expected.find((e) => !have.has(e.name));
  if (missing) throw new MissingTensorError(missing.name);
  for (const e of entries) {
    const w = wanted.get(e.name)!;
    if (e.dtype !== w.dtype) throw new TensorDtypeError(e.name, w.dtype, e.dtype);
    if (e.shape.length !== w.shape.length || e.shape.some((d, i) => d !== w.shape[i])) throw new TensorShapeError(e.name, w.shape, e.shape);
    if (e.trainable !== w.trainable)
      throw new TensorLayoutError(e.name, `trainable ${e.trainable}, expected ${w.trainable}`, w.trainable, e.trainable);
  }
}

/** Throws NonFiniteTensorError for the first NaN or +-Infinity, naming its tensor and index in it. */
export function checkFinite(entries: readonly TensorEntry[], buffer: Uint8Array): void {
  const dtype = entries[0]?.dtype ?? 'float32';
  if (dtype !== 'float32') {
    // A 16-bit set (not decoded yet): NaN and Inf are the values whose exponent bits are all ones.
    const exponent = dtype === 'float16' ? 0x7c00 : 0x7f80;
    for (let i = 0; i + 1 < buffer.byteLength; i += 2) {
      const h = buffer[i]! | (buffer[i + 1]! << 8);
      if ((h & exponent) === exponent) throw nonFiniteAt(entries, i / 2, halfValueAt(entries, buffer, i / 2));
    }
    return;
  }
  const words = int32Words(buffer);
  const at = firstNonFinite(words, 0, words.length);
  if (at >= 0) throw nonFiniteError(entries, at, words);
}

/** The Int32 words of a float32 buffer, copied once if it is not 4-byte aligned. */
export function int32Words(buffer: Uint8Array): Int32Array {
  const bytes = buffer.byteOffset % FLOAT32_BYTES === 0 ? buffer : buffer.slice();
  return new Int32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / FLOAT32_BYTES));
}

/**
 * Index of the first NaN or +-Infinity among words [from, to), or -1: a
 * float whose exponent bits are all ones. A SIMD kernel (vector-math): in
 * place for a buffer in a VectorMemory, else staged through its cache-sized
 * slots; about 0.2 ns a float against 1 ns for the best JS loop.
 */
export function firstNonFinite(words: Int32Array, from: number, to: number): number {
  if (to <= from) return -1;
  const at = firstNonFiniteWord(words.subarray(from, to));
  return at < 0 ? -1 : from + at;
}

/** The error for the non-finite float at word `at` of the buffer, named by its tensor. */
export function nonFiniteError(entries: readonly TensorEntry[], at: number, words: Int32Array): TensorSetError {
  return nonFiniteAt(entries, at, new Float32Array(words.buffer, words.byteOffset + at * FLOAT32_BYTES, 1)[0]!);
}

/** The error for the non-finite `value` at value `at` of a set (counted in values of the set's dtype), named by its tensor. */
export function nonFiniteAt(entries: readonly TensorEntry[], at: number, value: number): TensorSetError {
  const size = bytesPerElement(entries[0]?.dtype ?? 'float32');
  const byte = at * size;
  const entry = entries.find((e) => byte >= e.byteOffset && byte < e.byteOffset + e.byteLength);
  if (!entry) return new TensorSetError(`value ${value} at byte ${byte}, outside every tensor`, null, 'finite', value);
  return new NonFiniteTensorError(entry.name, (byte - entry.byteOffset) / size, value);
}

/** Value `at` of a 16-bit set's buffer, decoded (for an error message). */
function halfValueAt(entries: readonly TensorEntry[], buffer: Uint8Array, at: number): number {
  const out = new Float32Array(1);
  decodeHalf(entries[0]!.dtype as HalfDtype, Uint16Array.of(buffer[2 * at]! | (buffer[2 * at + 1]! << 8)), new Uint32Array(out.buffer));
  return out[0]!;
}
