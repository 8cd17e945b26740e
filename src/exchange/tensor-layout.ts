import { TensorDtypeError, TensorLayoutError, TensorSetLengthError, TensorShapeError } from './tensor-set-errors.js';

/**
 * How a tensor set's values are stored: float32, or one of the 16-bit
 * formats of --compress (half-floats.ts). One dtype a set; the manifest
 * names it for every tensor, so a receiver never guesses.
 */
export type TensorDtype = 'float32' | 'float16' | 'bfloat16';
export const TENSOR_DTYPES: readonly TensorDtype[] = ['float32', 'float16', 'bfloat16'];
export const FLOAT32_BYTES = 4;

export function isTensorDtype(s: string): s is TensorDtype {
  return (TENSOR_DTYPES as readonly string[]).includes(s);
}

/** Bytes of one value: 4 for float32, 2 for the 16-bit formats. */
export function bytesPerElement(dtype: TensorDtype): number {
  return dtype === 'float32' ? FLOAT32_BYTES : 2;
}

/** Where one tensor lives in a tensor set's buffer. */
export interface TensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: TensorDtype;
  readonly byteOffset: number;
  readonly byteLength: number;
  /** false: BatchNorm moving statistics (averaged, not optimized). */
  readonly trainable: boolean;
}

/** What a model declares about one tensor; the layout adds the offsets. */
export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly trainable: boolean;
}

/** Compares names by UTF-16 code units: the same order in every process, unlike localeCompare. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The layout every process agrees on: tensors sorted by name, offsets
 * ascending from 0 with no gaps, every value `dtype`. Every offset is then
 * a multiple of the value's size, so each tensor can be viewed in place.
 */
export function planTensorSet(specs: readonly TensorSpec[], dtype: TensorDtype = 'float32'): TensorEntry[] {
  const size = bytesPerElement(dtype);
  const sorted = [...specs].sort((a, b) => compareNames(a.name, b.name));
  let byteOffset = 0;
  return sorted.map((spec, i) => {
    if (i > 0 && sorted[i - 1]!.name === spec.name) throw new TensorLayoutError(spec.name, 'name appears twice', 1, 2);
    if (!spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new TensorShapeError(
        spec.name,
        spec.shape.map((d) => Math.max(0, Math.trunc(d) || 0)),
        spec.shape,
      );
    const byteLength = elementCount(spec.shape) * size;
    const entry: TensorEntry = {
      name: spec.name,
      shape: [...spec.shape],
      dtype,
      byteOffset,
      byteLength,
      trainable: spec.trainable,
    };
    byteOffset += byteLength;
    return entry;
  });
}

export function totalBytesOf(entries: readonly TensorEntry[]): number {
  const last = entries[entries.length - 1];
  return last ? last.byteOffset + last.byteLength : 0;
}

/**
 * Checks that entries obey the layout on their own (no model needed): one
 * known dtype for the whole set, sorted unique names, byte lengths matching
 * shapes, each offset where the previous tensor ends, and the last ending
 * at `totalBytes`.
 */
export function checkLayout(entries: readonly TensorEntry[], totalBytes: number): void {
  let end = 0;
  const dtype = entries[0]?.dtype;
  entries.forEach((e, i) => {
    if (!isTensorDtype(e.dtype)) throw new TensorDtypeError(e.name, TENSOR_DTYPES.join(' | '), e.dtype);
    if (e.dtype !== dtype) throw new TensorDtypeError(e.name, `${dtype} (one dtype a set)`, e.dtype);
    const prev = i > 0 ? entries[i - 1]! : null;
    if (prev && compareNames(prev.name, e.name) >= 0) {
      throw new TensorLayoutError(
        e.name,
        prev.name === e.name ? 'name appears twice' : `not sorted: comes after ${prev.name}`,
        `after ${prev.name}`,
        e.name,
      );
    }
    const wanted = elementCount(e.shape) * bytesPerElement(e.dtype);
    if (e.byteLength !== wanted)
      throw new TensorLayoutError(e.name, `byte length ${e.byteLength} does not match shape [${e.shape.join(',')}]`, wanted, e.byteLength);
    if (e.byteOffset !== end) {
      throw new TensorLayoutError(
        e.name,
        e.byteOffset > end
          ? `gap: starts at byte ${e.byteOffset}, the previous tensor ends at ${end}`
          : `overlap: starts at byte ${e.byteOffset}, before the previous tensor ends at ${end}`,
        end,
        e.byteOffset,
      );
    }
    end += e.byteLength;
  });
  if (end !== totalBytes) throw new TensorSetLengthError(end, totalBytes);
}
