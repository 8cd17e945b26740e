import type { TensorManifest } from '../rpc/gen/fleet/v1/coordinator.js';
import { FLOAT32_BYTES, type TensorEntry } from './tensor-layout.js';
import { toProtoManifest } from './tensor-manifest.js';
import { tensorSetValues, wrapTensorSet } from './tensor-set.js';
import { DEFAULT_CHUNK_BYTES, TensorSetAssembler as ChunkAssembler } from './tensor-set-chunks.js';

export { DEFAULT_CHUNK_BYTES } from './tensor-set-chunks.js';
export { OversizedTensorSetError, TensorSetError } from './tensor-set-errors.js';

/**
 * The tensor-set wire format seen through a model's flat float layout
 * (training/flat-weights.ts: offsets and lengths in floats), as the
 * coordinator server and worker client hold their tensors. A thin facade
 * over tensor-set.ts, tensor-set-chunks.ts and tensor-set-check.ts, which
 * define the format; new code can use those (exchange/index.ts) directly.
 */
export interface WireSlice {
  name: string;
  shape: number[];
  trainable: boolean;
  /** In floats. */
  offset: number;
  length: number;
}

export function entriesOf(layout: readonly WireSlice[]): TensorEntry[] {
  return layout.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32', byteOffset: s.offset * FLOAT32_BYTES, byteLength: s.length * FLOAT32_BYTES, trainable: s.trainable }));
}

/** The manifest (with the CRC-32C of `values`) of a flat buffer laid out as `layout`. */
export function manifestFor(layout: readonly WireSlice[], values: Float32Array, version: number): TensorManifest {
  const set = wrapTensorSet(entriesOf(layout), values, version);
  return toProtoManifest({ version, entries: set.entries, totalBytes: set.buffer.byteLength, crc32c: set.crc32c });
}

/** Views of the buffer, `chunkBytes` each (no copies). */
export function* chunksOf(values: Float32Array, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Buffer> {
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  for (let start = 0; start < bytes.length; start += chunkBytes) {
    yield bytes.subarray(start, Math.min(bytes.length, start + chunkBytes));
  }
}

/**
 * Receives a manifest then chunks into one preallocated buffer (`target`
 * when its size matches), checked against the layout the receiver expects:
 * names, shapes, dtype, offsets, total length, CRC-32C, every value finite.
 */
export class TensorSetAssembler {
  private readonly inner: ChunkAssembler;

  constructor(layout: readonly WireSlice[], limitBytes: number, target?: Float32Array) {
    this.inner = new ChunkAssembler({
      expected: entriesOf(layout),
      maxTotalBytes: limitBytes,
      ...(target ? { into: new Uint8Array(target.buffer, target.byteOffset, target.byteLength) } : {}),
    });
  }

  onManifest(manifest: TensorManifest): void {
    this.inner.onManifest(manifest);
  }

  onData(chunk: Uint8Array): void {
    this.inner.onData(chunk);
  }

  finish(): { version: number; values: Float32Array } {
    const set = this.inner.finish();
    return { version: set.version, values: tensorSetValues(set) };
  }
}
