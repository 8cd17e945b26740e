import { crc32c } from '@node-rs/crc32';
import type { TensorManifest } from '../../proto/gen/fleet/v1/coordinator.js';
import { FLOAT32_BYTES, type TensorEntry } from './tensor-layout.js';
import type { TensorSetManifest } from './tensor-manifest.js';
import { checkedManifest, dtypeOf, DEFAULT_MAX_TENSOR_SET_BYTES } from './tensor-set-chunks.js';
import { decodeHalf, type HalfDtype } from './half-floats.js';
import { HalfRuns } from './half-chunks.js';
import { entriesIn } from './tensor-set-encode.js';
import { nonFiniteAt } from './tensor-set-check.js';
import { TensorChecksumError, TensorSetLengthError, TensorSetOverflowError, TensorStreamProtocolError } from './tensor-set-errors.js';

/**
 * Takes the received values run by run, in order; returns the index (in
 * `values`) of a NaN or +-Infinity it found among them, or -1. The coordinator's
 * sink sums them into a staged contribution (WeightedSum.stage).
 */
export type FloatSink = (values: Float32Array) => number;

export interface SinkOptions {
  maxTotalBytes?: number;
  expected?: readonly TensorEntry[];
  /**
   * Where chunk bytes are gathered into whole floats before the sink sees
   * them, a few hundred KiB (so they stay in cache); in the sink's vector
   * memory, its kernels read them in place.
   */
  scratch: Float32Array;
}

/**
 * Receives a manifest then data chunks like TensorSetAssembler, with the
 * same checks in the same order (length, CRC-32C over the bytes as they
 * came, finite values), but keeps nothing: the values go to a sink as they
 * arrive, through a small scratch buffer while they are in cache; a 16-bit
 * set (--compress) is decoded into the scratch, so the sink always sees
 * float32 and its finite check is on the decoded values. For the
 * coordinator, which needs only their weighted sum: no model-sized receive
 * buffer, and no second pass.
 */
export class TensorSetSink {
  private manifest: TensorSetManifest | null = null;
  private readonly scratchBytes: Uint8Array;
  private readonly scratchWords: Uint32Array;
  private half: { runs: HalfRuns; dtype: HalfDtype } | null = null;
  private filled = 0;
  private received = 0;
  private sunkFloats = 0;
  private crc = 0;
  private firstBad: { at: number; value: number } | null = null;
  private failed = false;

  constructor(
    private readonly sink: FloatSink,
    private readonly options: SinkOptions,
  ) {
    const s = options.scratch;
    if (s.length < 2) throw new RangeError('the scratch buffer must hold at least two floats');
    this.scratchBytes = new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
    this.scratchWords = new Uint32Array(s.buffer, s.byteOffset, s.length);
  }

  onManifest(proto: TensorManifest): void {
    if (this.manifest || this.failed) this.fail(new TensorStreamProtocolError('a second manifest'));
    try {
      this.manifest = checkedManifest(proto, this.options.maxTotalBytes ?? DEFAULT_MAX_TENSOR_SET_BYTES, this.options.expected);
      const dtype = dtypeOf(this.manifest);
      if (dtype !== 'float32') this.half = { runs: new HalfRuns(), dtype };
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  onData(chunk: Uint8Array): void {
    const manifest = this.manifest;
    if (!manifest || this.failed) this.fail(new TensorStreamProtocolError(manifest ? 'data after a refusal' : 'data before the manifest'));
    const end = this.received + chunk.byteLength;
    if (end > manifest.totalBytes) this.fail(new TensorSetOverflowError(manifest.totalBytes, end));
    this.crc = crc32c(chunk, this.crc);
    this.received = end;
    if (this.half) {
      this.decodeInto(this.half, chunk);
      return;
    }
    // Whole floats go to the sink a scratch-full at a time; a float split between chunks waits in the scratch.
    let at = 0;
    while (at < chunk.byteLength) {
      const n = Math.min(chunk.byteLength - at, this.scratchBytes.byteLength - this.filled);
      this.scratchBytes.set(chunk.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.scratchBytes.byteLength || at === chunk.byteLength) this.flush();
    }
  }

  /**
   * The manifest of the complete set, after the checks: every byte arrived,
   * the CRC-32C, every value finite (a corrupted byte reports as a checksum
   * fault, not as the NaN it may have made).
   */
  finish(): TensorSetManifest {
    const manifest = this.manifest;
    if (!manifest || this.failed)
      return this.fail(new TensorStreamProtocolError(manifest ? 'finish after a refusal' : 'the stream ended without a manifest'));
    if (this.received !== manifest.totalBytes) this.fail(new TensorSetLengthError(manifest.totalBytes, this.received));
    if (this.crc >>> 0 !== manifest.crc32c) this.fail(new TensorChecksumError(manifest.crc32c, this.crc >>> 0));
    if (this.firstBad) {
      // Counted in decoded floats: named against the float32 layout.
      const floats = this.half ? entriesIn(manifest.entries, 'float32') : manifest.entries;
      this.fail(nonFiniteAt(floats, this.firstBad.at, this.firstBad.value));
    }
    return manifest;
  }

  /** A 16-bit set's chunk: its whole values decoded into the scratch, which goes to the sink whenever full and at the chunk's end. */
  private decodeInto(half: { runs: HalfRuns; dtype: HalfDtype }, chunk: Uint8Array): void {
    const room = this.scratchWords.length;
    half.runs.split(chunk, (values) => {
      let at = 0;
      while (at < values.length) {
        const filledFloats = this.filled / FLOAT32_BYTES;
        const n = Math.min(values.length - at, room - filledFloats);
        decodeHalf(half.dtype, values.subarray(at, at + n), this.scratchWords.subarray(filledFloats, filledFloats + n));
        this.filled += n * FLOAT32_BYTES;
        at += n;
        if (this.filled === this.scratchBytes.byteLength) this.flush();
      }
    });
    this.flush();
  }

  private flush(): void {
    const whole = Math.floor(this.filled / FLOAT32_BYTES);
    if (whole === 0) return;
    if (!this.firstBad) {
      const values = this.options.scratch.subarray(0, whole);
      const bad = this.sink(values);
      // After a bad value the sink is told nothing more; the stream is still read for its length and CRC.
      if (bad >= 0) this.firstBad = { at: this.sunkFloats + bad, value: values[bad]! };
    }
    this.sunkFloats += whole;
    const rest = this.filled - whole * FLOAT32_BYTES;
    this.scratchBytes.copyWithin(0, whole * FLOAT32_BYTES, this.filled);
    this.filled = rest;
  }

  private fail(err: Error): never {
    this.failed = true;
    throw err;
  }
}
