import { crc32c } from '@node-rs/crc32';
import { endianness } from 'node:os';
import { FleetError } from '../runtime/errors.js';
import {
  FLOAT32_BYTES,
  bytesPerElement,
  checkLayout,
  planTensorSet,
  totalBytesOf,
  type TensorDtype,
  type TensorEntry,
  type TensorSpec,
} from './tensor-layout.js';
import { decodeHalf } from './half-floats.js';
import { TensorLayoutError, UnknownTensorError } from './tensor-set-errors.js';

// The wire is little-endian and typed arrays use the host's order: refuse to
// misread every float rather than swap bytes on a host nobody runs.
if (endianness() !== 'LE') throw new FleetError('fleet tensor sets need a little-endian host');

/**
 * All parameters (or gradients) of a model: one contiguous little-endian
 * buffer of one dtype (float32, or a 16-bit format on the wire with
 * --compress) and the entries saying where each tensor lives in it.
 * `crc32c` is the checksum of `buffer` when the set was made or received;
 * a set whose buffer is edited in place must be wrapped again.
 */
export interface TensorSet {
  readonly version: number;
  readonly entries: readonly TensorEntry[];
  readonly buffer: Uint8Array;
  readonly crc32c: number;
}

export interface NamedTensor extends TensorSpec {
  readonly values: Float32Array;
}

export function tensorSetCrc32c(buffer: Uint8Array): number {
  return crc32c(buffer);
}

/** Packs named tensors into one fresh buffer (one allocation), sorted by name. */
export function packTensorSet(named: readonly NamedTensor[], version: number): TensorSet {
  const entries = planTensorSet(named);
  const byName = new Map(named.map((t) => [t.name, t.values]));
  const floats = new Float32Array(totalBytesOf(entries) / FLOAT32_BYTES);
  for (const e of entries) {
    const values = byName.get(e.name)!;
    if (values.byteLength !== e.byteLength)
      throw new TensorLayoutError(
        e.name,
        `${values.length} values for shape [${e.shape.join(',')}]`,
        e.byteLength / FLOAT32_BYTES,
        values.length,
      );
    floats.set(values, e.byteOffset / FLOAT32_BYTES);
  }
  const buffer = new Uint8Array(floats.buffer);
  return { version, entries, buffer, crc32c: tensorSetCrc32c(buffer) };
}

/**
 * A set over an existing buffer, without copying (the coordinator's flat
 * parameters, a worker's gradients). Checks the layout and computes the CRC.
 */
export function wrapTensorSet(entries: readonly TensorEntry[], data: Uint8Array | Float32Array, version: number): TensorSet {
  const buffer = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  checkLayout(entries, buffer.byteLength);
  return { version, entries, buffer, crc32c: tensorSetCrc32c(buffer) };
}

export function findEntry(set: Pick<TensorSet, 'entries'>, name: string): TensorEntry | undefined {
  // Entries are sorted: binary search, no per-set index to build.
  let lo = 0;
  let hi = set.entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = set.entries[mid]!;
    if (e.name === name) return e;
    if (e.name < name) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/**
 * One tensor's values: a view sharing the set's memory when the buffer is
 * float32 and 4-byte aligned (always, for float32 sets this module or the
 * assembler made); a copy otherwise, since a Float32Array cannot start at
 * an odd address; decoded into a fresh array for a 16-bit set.
 */
export function tensorView(set: TensorSet, name: string): Float32Array {
  const e = findEntry(set, name);
  if (!e) throw new UnknownTensorError(name);
  return floatsAt(set.buffer, e.byteOffset, e.byteLength, e.dtype);
}

/** The whole buffer as floats, in the layout's order (a view when float32 and aligned). */
export function tensorSetValues(set: TensorSet): Float32Array {
  return floatsAt(set.buffer, 0, set.buffer.byteLength, set.entries[0]?.dtype ?? 'float32');
}

/** The same set if its buffer is 4-byte aligned, else a copy into an aligned one (once, so later views are free). */
export function alignTensorSet(set: TensorSet): TensorSet {
  if (set.buffer.byteOffset % FLOAT32_BYTES === 0) return set;
  return { ...set, buffer: new Uint8Array(set.buffer) };
}

function floatsAt(buffer: Uint8Array, byteOffset: number, byteLength: number, dtype: TensorDtype): Float32Array {
  if (dtype !== 'float32') {
    const n = byteLength / bytesPerElement(dtype);
    const halves = new Uint16Array(new Uint8Array(buffer.subarray(byteOffset, byteOffset + byteLength)).buffer, 0, n);
    const out = new Float32Array(n);
    decodeHalf(dtype, halves, new Uint32Array(out.buffer));
    return out;
  }
  const start = buffer.byteOffset + byteOffset;
  if (start % FLOAT32_BYTES === 0) return new Float32Array(buffer.buffer, start, byteLength / FLOAT32_BYTES);
  return new Float32Array(buffer.slice(byteOffset, byteOffset + byteLength).buffer);
}
