import { crc32 } from 'node:zlib';
import { FleetError } from '../runtime/errors.js';
import type { TensorManifest } from '../rpc/gen/fleet/v1/coordinator.js';

/**
 * The wire format of a tensor set (all parameters, or all gradients, of a
 * model): one contiguous little-endian float32 buffer, described by a
 * manifest of names (sorted), shapes, byte offsets and a CRC-32, sent as the
 * manifest followed by data chunks. The layout is the model's flat weight
 * layout (training/flat-weights.ts), the same in every process.
 */
export interface WireSlice {
  name: string;
  shape: number[];
  trainable: boolean;
  /** In floats. */
  offset: number;
  length: number;
}

/** A refused tensor set; maps to gRPC INVALID_ARGUMENT. */
export class TensorSetError extends FleetError {
  constructor(readonly reason: string, readonly tensor: string | null = null, readonly expected: unknown = null, readonly got: unknown = null) {
    super(`tensor set refused: ${reason}${tensor ? ` (tensor ${tensor})` : ''}`);
  }
}

/** A tensor set larger than the receiver accepts; maps to gRPC RESOURCE_EXHAUSTED. */
export class OversizedTensorSetError extends FleetError {
  constructor(readonly bytes: number, readonly limitBytes: number) {
    super(`tensor set of ${bytes} bytes exceeds the limit of ${limitBytes} bytes`);
  }
}

export const DEFAULT_CHUNK_BYTES = 1 << 20;

export function manifestFor(layout: readonly WireSlice[], values: Float32Array, version: number): TensorManifest {
  const bytes = bytesOf(values);
  return {
    version,
    tensors: layout.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32', byteOffset: s.offset * 4, byteLength: s.length * 4, trainable: s.trainable })),
    totalBytes: values.byteLength,
    crc32: crc32(bytes),
  };
}

/** Views of the buffer, `chunkBytes` each (no copies). */
export function* chunksOf(values: Float32Array, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Buffer> {
  const bytes = bytesOf(values);
  for (let start = 0; start < bytes.length; start += chunkBytes) {
    yield bytes.subarray(start, Math.min(bytes.length, start + chunkBytes));
  }
}

function bytesOf(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * Receives a manifest then chunks into one preallocated buffer, and checks
 * the result against the layout the receiver expects: names, shapes, dtype,
 * offsets, total length, CRC, and that every value is finite.
 */
export class TensorSetAssembler {
  private buffer: Float32Array | null = null;
  private bytes: Buffer | null = null;
  private received = 0;
  private manifest: TensorManifest | null = null;

  constructor(private readonly layout: readonly WireSlice[], private readonly limitBytes: number, private readonly target?: Float32Array) {}

  onManifest(manifest: TensorManifest): void {
    if (this.manifest) throw new TensorSetError('a second manifest');
    if (manifest.totalBytes > this.limitBytes) throw new OversizedTensorSetError(manifest.totalBytes, this.limitBytes);
    checkManifest(manifest, this.layout);
    this.manifest = manifest;
    const floats = manifest.totalBytes / 4;
    this.buffer = this.target && this.target.length === floats ? this.target : new Float32Array(floats);
    this.bytes = bytesOf(this.buffer);
  }

  onData(chunk: Uint8Array): void {
    if (!this.bytes) throw new TensorSetError('data before the manifest');
    if (this.received + chunk.length > this.bytes.length) {
      throw new TensorSetError(`more data than the manifest's ${this.bytes.length} bytes`, null, this.bytes.length, this.received + chunk.length);
    }
    this.bytes.set(chunk, this.received);
    this.received += chunk.length;
  }

  finish(): { version: number; values: Float32Array } {
    if (!this.manifest || !this.buffer || !this.bytes) throw new TensorSetError('no manifest');
    if (this.received !== this.bytes.length) throw new TensorSetError(`${this.received} of ${this.bytes.length} bytes arrived`, null, this.bytes.length, this.received);
    const sum = crc32(this.bytes);
    if (sum !== this.manifest.crc32) throw new TensorSetError('CRC-32 mismatch', null, this.manifest.crc32, sum);
    checkFinite(this.buffer, this.layout);
    return { version: this.manifest.version, values: this.buffer };
  }
}

function checkManifest(manifest: TensorManifest, layout: readonly WireSlice[]): void {
  const expectedBytes = layout.reduce((n, s) => n + s.length * 4, 0);
  if (manifest.totalBytes !== expectedBytes) throw new TensorSetError(`total size ${manifest.totalBytes} bytes, the model has ${expectedBytes}`, null, expectedBytes, manifest.totalBytes);
  if (manifest.tensors.length !== layout.length) throw new TensorSetError(`${manifest.tensors.length} tensors, the model has ${layout.length}`, null, layout.length, manifest.tensors.length);
  layout.forEach((slice, i) => {
    const t = manifest.tensors[i]!;
    if (t.name !== slice.name) throw new TensorSetError(`tensor ${i} is ${t.name}, expected ${slice.name} (names sorted)`, t.name, slice.name, t.name);
    if (t.dtype !== 'float32') throw new TensorSetError(`dtype ${t.dtype}`, t.name, 'float32', t.dtype);
    if (t.shape.length !== slice.shape.length || t.shape.some((d, k) => d !== slice.shape[k])) {
      throw new TensorSetError(`shape [${t.shape.join(',')}], expected [${slice.shape.join(',')}]`, t.name, slice.shape, t.shape);
    }
    if (t.byteOffset !== slice.offset * 4 || t.byteLength !== slice.length * 4) {
      throw new TensorSetError(`bytes ${t.byteOffset}+${t.byteLength}, expected ${slice.offset * 4}+${slice.length * 4}`, t.name);
    }
  });
}

function checkFinite(values: Float32Array, layout: readonly WireSlice[]): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // v - v is NaN exactly for NaN and +-Infinity: one test per value on the hot path.
    if (v - v !== 0) {
      const slice = layout.find((s) => i >= s.offset && i < s.offset + s.length);
      throw new TensorSetError(`value ${v} at index ${i - (slice?.offset ?? 0)}`, slice?.name ?? null, 'finite', v);
    }
  }
}
