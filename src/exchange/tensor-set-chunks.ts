import { crc32c } from '@node-rs/crc32';
import type { TensorChunk, TensorManifest } from '../../proto/gen/fleet/v1/coordinator.js';
import { FleetError } from '../runtime/errors.js';
import { FLOAT32_BYTES, checkLayout, type TensorEntry } from './tensor-layout.js';
import { fromProtoManifest, toProtoManifest, manifestOf, type TensorSetManifest } from './tensor-manifest.js';
import type { TensorSet } from './tensor-set.js';
import { checkAgainstModel, firstNonFinite, nonFiniteError } from './tensor-set-check.js';
import {
  OversizedTensorSetError,
  TensorChecksumError,
  TensorSetLengthError,
  TensorSetOverflowError,
  TensorStreamProtocolError,
} from './tensor-set-errors.js';

/** 1 MiB: far below gRPC's 4 MiB message limit, large enough that per-message costs vanish. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** A receiver's default ceiling: 1 GiB, 20x a ResNet-18 set. */
export const DEFAULT_MAX_TENSOR_SET_BYTES = 1 << 30;

export class ChunkSizeError extends FleetError {
  constructor(readonly chunkBytes: number) {
    super(`chunk size must be a positive integer of bytes, got ${chunkBytes}`);
  }
}

/**
 * The messages of one tensor set on the wire: the manifest, then the buffer
 * in `chunkBytes` pieces. Data chunks are Buffer views of the set's memory,
 * not copies: do not change the set until they are written.
 */
export function* chunkTensorSet(set: TensorSet, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<TensorChunk, void, undefined> {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) throw new ChunkSizeError(chunkBytes);
  yield { part: { $case: 'manifest', value: toProtoManifest(manifestOf(set)) } };
  const bytes = Buffer.from(set.buffer.buffer, set.buffer.byteOffset, set.buffer.byteLength);
  for (let start = 0; start < bytes.length; start += chunkBytes) {
    yield { part: { $case: 'data', value: bytes.subarray(start, Math.min(bytes.length, start + chunkBytes)) } };
  }
}

export interface AssemblerOptions {
  /** Larger manifests are refused before anything is allocated (OversizedTensorSetError). */
  maxTotalBytes?: number;
  /** The model's entries: a manifest that differs is refused on arrival, before its data. */
  expected?: readonly TensorEntry[];
  /** Refuse NaN and +-Infinity (default true). The scan runs as chunks arrive. */
  rejectNonFinite?: boolean;
  /** Assemble into this buffer when its size matches and it is 4-byte aligned (reused across rounds); holds garbage if assembly fails. */
  into?: Uint8Array;
}

export type AssemblerState = 'awaiting-manifest' | 'receiving' | 'done' | 'failed';

/**
 * A received manifest, refused before anything is allocated when it is too
 * large, differs from the model's entries (`expected`) or lays its tensors
 * out inconsistently.
 */
export function checkedManifest(proto: TensorManifest, maxTotalBytes: number, expected?: readonly TensorEntry[]): TensorSetManifest {
  if (proto.totalBytes > maxTotalBytes) throw new OversizedTensorSetError(proto.totalBytes, maxTotalBytes);
  const manifest = fromProtoManifest(proto);
  // The model's view first: a missing tensor is reported as such, not as the gap it leaves.
  if (expected) checkAgainstModel(manifest.entries, expected);
  checkLayout(manifest.entries, manifest.totalBytes);
  return manifest;
}

/**
 * Receives a manifest then data chunks into one buffer allocated once, and
 * hands back a checked TensorSet. The CRC-32C and the finite scan run
 * incrementally as chunks arrive, so `finish` costs almost nothing after the
 * last chunk. Any refusal leaves the assembler 'failed'.
 */
export class TensorSetAssembler {
  private stateValue: AssemblerState = 'awaiting-manifest';
  private manifest: TensorSetManifest | null = null;
  private bytes: Uint8Array = new Uint8Array(0);
  private words: Int32Array = new Int32Array(0);
  private received = 0;
  private scannedWords = 0;
  private firstBadWord = -1;
  private crc = 0;
  private readonly maxTotalBytes: number;
  private readonly rejectNonFinite: boolean;

  constructor(private readonly options: AssemblerOptions = {}) {
    this.maxTotalBytes = options.maxTotalBytes ?? DEFAULT_MAX_TENSOR_SET_BYTES;
    this.rejectNonFinite = options.rejectNonFinite ?? true;
  }

  get state(): AssemblerState {
    return this.stateValue;
  }

  get receivedBytes(): number {
    return this.received;
  }

  /** One message of the stream, manifest or data. */
  push(chunk: TensorChunk): void {
    const part = chunk.part;
    if (part?.$case === 'manifest') this.onManifest(part.value);
    else if (part?.$case === 'data') this.onData(part.value);
    else this.fail(new TensorStreamProtocolError('a message with neither manifest nor data'));
  }

  onManifest(proto: TensorManifest): void {
    if (this.stateValue !== 'awaiting-manifest') this.fail(new TensorStreamProtocolError(`a manifest while ${this.stateValue}`));
    try {
      const manifest = checkedManifest(proto, this.maxTotalBytes, this.options.expected);
      const into = this.options.into;
      this.bytes =
        into && into.byteLength === manifest.totalBytes && into.byteOffset % FLOAT32_BYTES === 0
          ? into
          : new Uint8Array(manifest.totalBytes);
      this.words = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, manifest.totalBytes / FLOAT32_BYTES);
      this.manifest = manifest;
      this.stateValue = 'receiving';
    } catch (err) {
      this.stateValue = 'failed';
      throw err;
    }
  }

  onData(chunk: Uint8Array): void {
    if (this.stateValue !== 'receiving') {
      this.fail(
        new TensorStreamProtocolError(
          this.stateValue === 'awaiting-manifest' ? 'data before the manifest' : `data while ${this.stateValue}`,
        ),
      );
    }
    const end = this.received + chunk.byteLength;
    if (end > this.bytes.byteLength) this.fail(new TensorSetOverflowError(this.bytes.byteLength, end));
    this.bytes.set(chunk, this.received);
    this.crc = crc32c(this.bytes.subarray(this.received, end), this.crc);
    this.received = end;
    if (this.rejectNonFinite && this.firstBadWord < 0) {
      const complete = Math.floor(end / FLOAT32_BYTES);
      this.firstBadWord = firstNonFinite(this.words, this.scannedWords, complete);
      this.scannedWords = complete;
    }
  }

  /**
   * The assembled set. Checks, in order: every byte arrived, the CRC-32C,
   * every value finite (a corrupted byte reports as a checksum fault, not
   * as the NaN it may have made).
   */
  finish(): TensorSet {
    const manifest = this.manifest;
    if (this.stateValue !== 'receiving' || !manifest) {
      return this.fail(
        new TensorStreamProtocolError(
          this.stateValue === 'awaiting-manifest' ? 'the stream ended without a manifest' : `finish while ${this.stateValue}`,
        ),
      );
    }
    if (this.received !== manifest.totalBytes) this.fail(new TensorSetLengthError(manifest.totalBytes, this.received));
    if (this.crc >>> 0 !== manifest.crc32c) this.fail(new TensorChecksumError(manifest.crc32c, this.crc >>> 0));
    if (this.firstBadWord >= 0) this.fail(nonFiniteError(manifest.entries, this.firstBadWord, this.words));
    this.stateValue = 'done';
    return { version: manifest.version, entries: manifest.entries, buffer: this.bytes, crc32c: manifest.crc32c };
  }

  private fail(err: Error): never {
    this.stateValue = 'failed';
    throw err;
  }
}
