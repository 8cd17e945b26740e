import { crc32c } from '@node-rs/crc32';
import { FLOAT32_BYTES, bytesPerElement, checkLayout, type TensorDtype, type TensorEntry } from './tensor-layout.js';
import { RoundingStream, encodeHalf, roundingSeed, type HalfDtype, type Rounding } from './half-floats.js';
import type { TensorSet } from './tensor-set.js';
import { TensorOverflowError } from './tensor-set-errors.js';

/** Who rounds stochastically, where: the key of each tensor's stream (half-floats.ts roundingSeed). */
export interface RoundingKey {
  seed: number;
  round: number;
  /** A worker's position among the round's members. */
  sender: number;
}

/** How a tensor set travels: its dtype and, for the 16-bit ones, how float32 values are rounded into it. */
export interface WireFormat {
  readonly dtype: TensorDtype;
  readonly rounding: Rounding;
  /** Required for stochastic rounding. */
  readonly key?: RoundingKey;
}

export const FLOAT32_WIRE: WireFormat = { dtype: 'float32', rounding: 'nearest' };

/**
 * The entries of `entries` (any dtype, one a set) in `dtype`: the same
 * names, shapes, order and flags, offsets for the new value size. Both
 * ends derive the wire layout from the model's this way.
 */
export function entriesIn(entries: readonly TensorEntry[], dtype: TensorDtype): TensorEntry[] {
  const size = bytesPerElement(dtype);
  let byteOffset = 0;
  return entries.map((e) => {
    const byteLength = (e.byteLength / bytesPerElement(e.dtype)) * size;
    const out: TensorEntry = { ...e, dtype, byteOffset, byteLength };
    byteOffset += byteLength;
    return out;
  });
}

/**
 * The tensor set of float32 `values` (laid out by the float32 `entries`) as
 * it goes on the wire. float32: a set over `values`' own memory (no copy).
 * 16-bit: encoded into `into` when it has exactly the room (a buffer kept
 * across rounds), else a fresh one; the CRC-32C is over the encoded bytes,
 * as they are sent. A finite value the format cannot hold is refused
 * (TensorOverflowError, naming the tensor): never clamped, never sent as
 * Infinity.
 */
export function encodeTensorSet(
  entries: readonly TensorEntry[],
  values: Float32Array,
  version: number,
  wire: WireFormat,
  into?: Uint16Array,
): TensorSet {
  const floats = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  checkLayout(entries, floats.byteLength);
  if (wire.dtype === 'float32') return { version, entries, buffer: floats, crc32c: crc32c(floats) };
  const dtype: HalfDtype = wire.dtype;
  const n = values.length;
  const halves = into && into.length === n ? into : new Uint16Array(n);
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const wireEntries = entriesIn(entries, dtype);
  if (wire.rounding === 'nearest') {
    const at = encodeHalf(dtype, bits, halves, 'nearest');
    if (at >= 0) throw overflowAt(entries, at, values[at]!, dtype);
  } else {
    // One stream a tensor: a tensor's draws do not depend on which other tensors travel with it (a frozen phase's subset).
    const key = wire.key;
    if (!key) throw new RangeError('stochastic rounding needs a key (seed, round, sender)');
    for (const e of entries) {
      const from = e.byteOffset / FLOAT32_BYTES;
      const to = from + e.byteLength / FLOAT32_BYTES;
      const at = encodeHalf(
        dtype,
        bits.subarray(from, to),
        halves.subarray(from, to),
        'stochastic',
        new RoundingStream(roundingSeed(key, e.name)),
      );
      if (at >= 0) throw new TensorOverflowError(e.name, at, values[from + at]!, dtype);
    }
  }
  const buffer = new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength);
  return { version, entries: wireEntries, buffer, crc32c: crc32c(buffer) };
}

function overflowAt(entries: readonly TensorEntry[], at: number, value: number, dtype: string): TensorOverflowError {
  const byte = at * FLOAT32_BYTES;
  const e = entries.find((x) => byte >= x.byteOffset && byte < x.byteOffset + x.byteLength)!;
  return new TensorOverflowError(e.name, (byte - e.byteOffset) / FLOAT32_BYTES, value, dtype);
}
