import { crc32c } from '@node-rs/crc32';
import type { TensorChunk, TensorManifest } from '../../proto/gen/fleet/v1/coordinator.js';
import { FleetError } from '../runtime/errors.js';
import { FLOAT32_BYTES, bytesPerElement, checkLayout, type TensorDtype, type TensorEntry } from './tensor-layout.js';
import { fromProtoManifest, toProtoManifest, manifestOf, type TensorSetManifest } from './tensor-manifest.js';
import type { TensorSet } from './tensor-set.js';
import { decodeHalf } from './half-floats.js';
import { HalfRuns } from './half-chunks.js';
import { entriesIn } from './tensor-set-encode.js';
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
  /** Larger manifests (their bytes on the wire) are refused before anything is allocated (OversizedTensorSetError). */
  maxTotalBytes?: number;
  /**
   * The model's entries as they should travel (dtype included: entriesIn):
   * a manifest that differs is refused on arrival, before its data.
   */
  expected?: readonly TensorEntry[];
  /** Refuse NaN and +-Infinity (default true). The scan runs as chunks arrive, on the decoded values. */
  rejectNonFinite?: boolean;
  /**
   * Assemble the float32 values into this buffer when its size matches and it is 4-byte aligned
   * (reused across rounds); holds garbage if assembly fails.
   */
  into?: Uint8Array;
}

export type AssemblerState = 'awaiting-manifest' | 'receiving' | 'done' | 'failed';

/** A received set, always float32, and how it travelled. */
export interface ReceivedTensorSet extends TensorSet {
  readonly wireDtype: TensorDtype;
  /** Its data bytes on the wire (half the float32 size for a 16-bit set). */
  readonly wireBytes: number;
}

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
 * hands back a checked float32 TensorSet. A 16-bit set (--compress) is
 * decoded as its chunks arrive; the CRC-32C covers the bytes as they came,
 * the finite scan the decoded values. Both run incrementally, so `finish`
 * costs almost nothing after the last chunk. Any refusal leaves the
 * assembler 'failed'.
 */
export class TensorSetAssembler {
  private stateValue: AssemblerState = 'awaiting-manifest';
  private manifest: TensorSetManifest | null = null;
  private bytes: Uint8Array = new Uint8Array(0);
  private words: Int32Array = new Int32Array(0);
  /** A 16-bit set: its values split out of the chunks, and how many are decoded into `words`. */
  private half: { runs: HalfRuns; dtype: 'float16' | 'bfloat16'; out: Uint32Array; decoded: number } | null = null;
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

  /** Bytes received so far, as they came (a 16-bit set's are half its float32 size). */
  get receivedBytes(): number {
    return this.received;
  }

  /** The dtype the set travels in, once its manifest is in. */
  get wireDtype(): TensorDtype | null {
    return this.manifest ? dtypeOf(this.manifest) : null;
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
      const dtype = dtypeOf(manifest);
      const floatBytes = (manifest.totalBytes / bytesPerElement(dtype)) * FLOAT32_BYTES;
      const into = this.options.into;
      this.bytes = into && into.byteLength === floatBytes && into.byteOffset % FLOAT32_BYTES === 0 ? into : new Uint8Array(floatBytes);
      this.words = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, floatBytes / FLOAT32_BYTES);
      if (dtype !== 'float32') {
        const out = new Uint32Array(this.words.buffer, this.words.byteOffset, this.words.length);
        this.half = { runs: new HalfRuns(), dtype, out, decoded: 0 };
      }
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
    const total = this.manifest!.totalBytes;
    if (end > total) this.fail(new TensorSetOverflowError(total, end));
    let complete: number;
    const half = this.half;
    if (half) {
      this.crc = crc32c(chunk, this.crc);
      half.runs.split(chunk, (values) => {
        decodeHalf(half.dtype, values, half.out.subarray(half.decoded, half.decoded + values.length));
        half.decoded += values.length;
      });
      complete = half.decoded;
    } else {
      this.bytes.set(chunk, this.received);
      this.crc = crc32c(this.bytes.subarray(this.received, end), this.crc);
      complete = Math.floor(end / FLOAT32_BYTES);
    }
    this.received = end;
    if (this.rejectNonFinite && this.firstBadWord < 0) {
      this.firstBadWord = firstNonFinite(this.words, this.scannedWords, complete);
      this.scannedWords = complete;
    }
  }

  /**
   * The assembled set. Checks, in order: every byte arrived, the CRC-32C,
   * every value finite (a corrupted byte reports as a checksum fault, not
   * as the NaN it may have made).
   */
  finish(): ReceivedTensorSet {
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
    if (this.half) {
      const floats = entriesIn(manifest.entries, 'float32');
      if (this.firstBadWord >= 0) this.fail(nonFiniteError(floats, this.firstBadWord, this.words));
      this.stateValue = 'done';
      return decodedSet(manifest.version, floats, this.bytes, this.half.dtype, this.received);
    }
    if (this.firstBadWord >= 0) this.fail(nonFiniteError(manifest.entries, this.firstBadWord, this.words));
    this.stateValue = 'done';
    return {
      version: manifest.version,
      entries: manifest.entries,
      buffer: this.bytes,
      crc32c: manifest.crc32c,
      wireDtype: 'float32',
      wireBytes: this.received,
    };
  }

  private fail(err: Error): never {
    this.stateValue = 'failed';
    throw err;
  }
}

/** The dtype of a manifest's set (checkLayout holds it to one); float32 for an empty set. */
export function dtypeOf(manifest: Pick<TensorSetManifest, 'entries'>): TensorDtype {
  return manifest.entries[0]?.dtype ?? 'float32';
}

/**
 * A received 16-bit set decoded to float32. Its CRC-32C (of the float32
 * bytes, as for any set) is computed only if asked for: the one that was
 * checked is the wire's.
 */
function decodedSet(
  version: number,
  entries: readonly TensorEntry[],
  buffer: Uint8Array,
  wireDtype: TensorDtype,
  wireBytes: number,
): ReceivedTensorSet {
  let crc: number | null = null;
  return {
    version,
    entries,
    buffer,
    wireDtype,
    wireBytes,
    get crc32c() {
      crc ??= crc32c(buffer);
      return crc;
    },
  };
}
