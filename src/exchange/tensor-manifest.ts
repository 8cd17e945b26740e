import type { TensorManifest } from '../../proto/gen/fleet/v1/coordinator.js';
import { isTensorDtype, TENSOR_DTYPES, type TensorEntry } from './tensor-layout.js';
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
 * From the generated proto message. Refuses a dtype fleet does not know
 * (float32, float16, bfloat16); whether it is the one expected, and the
 * layout, are the receiver's checks (checkedManifest).
 */
export function fromProtoManifest(m: TensorManifest): TensorSetManifest {
  return {
    version: m.version,
    entries: m.tensors.map((t) => {
      const dtype = t.dtype;
      if (!isTensorDtype(dtype)) throw new TensorDtypeError(t.name, TENSOR_DTYPES.join(' | '), dtype);
      return { name: t.name, shape: t.shape, dtype, byteOffset: t.byteOffset, byteLength: t.byteLength, trainable: t.trainable };
    }),
    totalBytes: m.totalBytes,
    crc32c: m.crc32c >>> 0,
  };
}
