import { readFileSync } from 'node:fs';
import { SafetensorsError } from './errors.js';

/** dtypes fleet reads, with their byte sizes; all become Float32Array. */
export const SAFETENSORS_DTYPES = { F32: 4, F16: 2, BF16: 2 } as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

export interface SafetensorsTensor {
  name: string;
  /** dtype as stored in the file (the values are converted to float32). */
  dtype: SafetensorsDtype;
  shape: number[];
  values: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** A header above this is not a tensor index but a hostile or corrupt file. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface ReadSafetensorsOptions {
  /**
   * Tensors not wanted (e.g. BatchNorm's int64 num_batches_tracked): their
   * offsets are still checked, but not their dtype, and they are not read.
   */
  ignore?: (name: string) => boolean;
}

/** Reads a safetensors file from disk (see parseSafetensors). */
export function readSafetensors(file: string, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  return parseSafetensors(readFileSync(file), file, options);
}

/**
 * Parses safetensors bytes: u64 little-endian header length, JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then the
 * data; offsets are relative to the data start. Every length and offset is
 * checked against the buffer before anything is read.
 */
export function parseSafetensors(bytes: Uint8Array, file: string, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  const { entries, metadata, dataStart } = parseLayout(bytes, file, options);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    tensors.set(e.name, {
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      values: decode(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype),
    });
  }
  return { tensors, metadata };
}

/** A tensor's description in the header, without its values. */
export type SafetensorsEntry = Omit<SafetensorsTensor, 'values'>;

/**
 * Every check parseSafetensors makes (header, dtypes, offsets, overlaps,
 * byte lengths), without decoding any tensor: the names and shapes, cheaply,
 * for a check before a run starts.
 */
export function readSafetensorsHeader(file: string, options: ReadSafetensorsOptions = {}): Map<string, SafetensorsEntry> {
  const { entries } = parseLayout(readFileSync(file), file, options);
  return new Map(entries.map((e) => [e.name, { name: e.name, dtype: e.dtype, shape: e.shape }]));
}

function parseLayout(
  bytes: Uint8Array,
  file: string,
  options: ReadSafetensorsOptions,
): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  if (bytes.byteLength < 8) throw new SafetensorsError(file, 'truncated', `${bytes.byteLength} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    throw new SafetensorsError(
      file,
      'bad-header-length',
      `header length ${headerLength} runs past the end of the file (${bytes.byteLength} bytes)`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES) || headerLength < 2n) {
    throw new SafetensorsError(file, 'bad-header-length', `header length ${headerLength} is not plausible`);
  }
  const dataStart = 8 + Number(headerLength);
  const dataLength = bytes.byteLength - dataStart;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    throw new SafetensorsError(file, 'bad-json', `header is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(file, 'bad-json', 'header is not a JSON object');
  }
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  const ignoredEntries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null) throw new SafetensorsError(file, 'bad-entry', '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') metadata[k] = v;
      continue;
    }
    const ignored = options.ignore?.(name) === true;
    (ignored ? ignoredEntries : entries).push(parseEntry(file, name, raw, dataLength, ignored));
  }
  checkNoOverlap(file, [...entries, ...ignoredEntries]);
  return { entries, metadata, dataStart };
}

function parseEntry(file: string, name: string, raw: unknown, dataLength: number, ignored: boolean): Entry {
  if (typeof raw !== 'object' || raw === null) throw new SafetensorsError(file, 'bad-entry', 'entry is not an object', name);
  const { dtype, shape, data_offsets: offsets } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const known = typeof dtype === 'string' && Object.hasOwn(SAFETENSORS_DTYPES, dtype);
  if (!known && !ignored) {
    throw new SafetensorsError(
      file,
      'unknown-dtype',
      `dtype ${JSON.stringify(dtype)} (fleet reads ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`,
      name,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(file, 'bad-entry', `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw new SafetensorsError(file, 'bad-entry', `data_offsets ${JSON.stringify(offsets)} is not [begin, end]`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new SafetensorsError(file, 'offsets-out-of-range', `data_offsets [${begin}, ${end}] end before begin`, name);
  if (end > dataLength) {
    throw new SafetensorsError(
      file,
      'offsets-out-of-range',
      `data_offsets [${begin}, ${end}] past the end of the data (${dataLength} bytes)`,
      name,
    );
  }
  if (!known) return { name, dtype: 'F32', shape: shape as number[], begin, end };
  const size = SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
  const expected = (shape as number[]).reduce((a, d) => a * d, 1) * size;
  if (end - begin !== expected) {
    throw new SafetensorsError(
      file,
      'byte-length-mismatch',
      `${end - begin} bytes for shape [${shape.join(', ')}] ${dtype} (expected ${expected})`,
      name,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

function checkNoOverlap(file: string, entries: Entry[]): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as Entry;
    const cur = sorted[i] as Entry;
    if (cur.begin < prev.end) {
      throw new SafetensorsError(
        file,
        'overlapping',
        `data_offsets [${cur.begin}, ${cur.end}] overlap ${prev.name} [${prev.begin}, ${prev.end}]`,
        cur.name,
      );
    }
  }
}

/** Little-endian F32/F16/BF16 -> float32, whatever the alignment of `raw`. */
function decode(raw: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = raw.byteLength / SAFETENSORS_DTYPES[dtype];
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'BF16') {
    const word = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < n; i++) {
      word.setUint32(0, view.getUint16(i * 2, true) << 16);
      out[i] = word.getFloat32(0);
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return out;
}

/** IEEE 754 binary16 -> number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
