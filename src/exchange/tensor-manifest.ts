import type { TensorManifest } from '../../proto/gen/fleet/v1/coordinator.js';
import type { TensorEntry } from './tensor-layout.js';
import type { TensorSet } from './tensor-set.js';
import { TensorDtypeError } from './tensor-set-errors.js';

/** A tensor set without its bytes: what the first message of a stream carries. */
export interface TensorSetManifest {
  readonly version: number;
  readonly entries: readonly TensorEntry[];
  readonly totalBytes: number;
  readonly crc32c: number;
}

export function manifestOf(set: TensorSet): TensorSetManifest {
  return { version: set.version, entries: set.entries, totalBytes: set.buffer.byteLength, crc32c: set.crc32c };
}

/** To the generated proto message (fleet.v1.TensorManifest). */
export function toProtoManifest(m: TensorSetManifest): TensorManifest {
  return {
    version: m.version,
    tensors: m.entries.map((e) => ({
      name: e.name,
      shape: [...e.shape],
      dtype: e.dtype,
      byteOffset: e.byteOffset,
      byteLength: e.byteLength,
      trainable: e.trainable,
    })),
    totalBytes: m.totalBytes,
    crc32c: m.crc32c,
  };
}

/**
 * From the generated proto message. Refuses a dtype other than float32 (the
 * only one a set can hold); layout and model checks are the assembler's.
 */
export function fromProtoManifest(m: TensorManifest): TensorSetManifest {
  return {
    version: m.version,
    entries: m.tensors.map((t) => {
      if (t.dtype !== 'float32') throw new TensorDtypeError(t.name, 'float32', t.dtype);
      return { name: t.name, shape: t.shape, dtype: 'float32', byteOffset: t.byteOffset, byteLength: t.byteLength, trainable: t.trainable };
    }),
    totalBytes: m.totalBytes,
    crc32c: m.crc32c >>> 0,
  };
}
