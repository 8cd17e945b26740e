import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  SafetensorsError,
  type SafetensorsProblem,
} from '../../../src/model/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleet-safetensors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file from a header object and a data section, header length as given (or the true one). */
function rawFile(header: unknown, data: Uint8Array, headerLength?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf-8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const good = encodeSafetensors([
  { name: 'a', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) },
  { name: 'b', shape: [1], values: Float32Array.from([-0.5]) },
]);

describe('safetensors reader', () => {
  it('reads what the writer wrote, with metadata', () => {
    const file = join(dir, 'ok.safetensors');
    writeFileSync(file, encodeSafetensors([{ name: 'w', shape: [2, 2], values: Float32Array.from([1, -2, 3.5, 0]) }], { format: 'pt' }));
    const read = readSafetensors(file);
    expect(read.metadata).toEqual({ format: 'pt' });
    expect(read.tensors.get('w')?.shape).toEqual([2, 2]);
    expect([...(read.tensors.get('w')?.values ?? [])]).toEqual([1, -2, 3.5, 0]);
  });

  it('converts F16 and BF16 to float32', () => {
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setUint16(0, 0x3c00, true); // F16 1.0
    view.setUint16(2, 0xc000, true); // F16 -2.0
    view.setUint16(4, 0x3fc0, true); // BF16 1.5
    view.setUint16(6, 0xc0a0, true); // BF16 -5.0
    const parsed = parseSafetensors(
      rawFile({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] } }, data),
      'half.safetensors',
    );
    expect([...(parsed.tensors.get('h')?.values ?? [])]).toEqual([1, -2]);
    expect([...(parsed.tensors.get('b')?.values ?? [])]).toEqual([1.5, -5]);
  });

  it("ignores tensors it is told to (torchvision's int64 num_batches_tracked), offsets still checked", () => {
    const bytes = () =>
      rawFile(
        {
          'bn.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [0, 8] },
          w: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
        },
        new Uint8Array(12),
      );
    const ignore = (name: string) => name.endsWith('.num_batches_tracked');
    const parsed = parseSafetensors(bytes(), 'bn.safetensors', { ignore });
    expect([...parsed.tensors.keys()]).toEqual(['w']);
    expect(() => parseSafetensors(bytes(), 'bn.safetensors')).toThrow(/unknown-dtype \(tensor bn.num_batches_tracked\)/);
    const outOfRange = rawFile({ 'bn.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [0, 16] } }, new Uint8Array(8));
    expect(() => parseSafetensors(outOfRange, 'bn.safetensors', { ignore })).toThrow(/offsets-out-of-range/);
  });

  const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const cases: { case: string; bytes: () => Uint8Array; problem: SafetensorsProblem; tensor?: string; message: RegExp }[] = [
    { case: 'shorter than the length field', bytes: () => good.subarray(0, 5), problem: 'truncated', message: /fewer than the 8-byte/ },
    {
      case: 'truncated data',
      bytes: () => good.subarray(0, good.length - 3),
      problem: 'offsets-out-of-range',
      tensor: 'b',
      message: /past the end of the data/,
    },
    {
      case: 'header length past the end',
      bytes: () => rawFile({}, new Uint8Array(0), 1000n),
      problem: 'bad-header-length',
      message: /runs past the end/,
    },
    {
      case: 'absurd header length',
      bytes: () => rawFile({}, new Uint8Array(0), 2n ** 63n),
      problem: 'bad-header-length',
      message: /runs past the end/,
    },
    { case: 'header not JSON', bytes: () => rawFile({}, new Uint8Array(0)).fill(0x7b, 8), problem: 'bad-json', message: /not valid JSON/ },
    { case: 'header a JSON list', bytes: () => rawFile([1, 2], new Uint8Array(0)), problem: 'bad-json', message: /not a JSON object/ },
    {
      case: 'offset past the data',
      bytes: () => rawFile({ w: f32([4], 0, 16) }, new Uint8Array(8)),
      problem: 'offsets-out-of-range',
      tensor: 'w',
      message: /\[0, 16\] past the end of the data \(8 bytes\)/,
    },
    {
      case: 'end before begin',
      bytes: () => rawFile({ w: f32([0], 8, 4) }, new Uint8Array(8)),
      problem: 'offsets-out-of-range',
      tensor: 'w',
      message: /end before begin/,
    },
    {
      case: 'negative offset',
      bytes: () => rawFile({ w: f32([1], -4, 0) }, new Uint8Array(8)),
      problem: 'bad-entry',
      tensor: 'w',
      message: /data_offsets/,
    },
    {
      case: 'overlapping',
      bytes: () => rawFile({ x: f32([2], 0, 8), y: f32([2], 4, 12) }, new Uint8Array(12)),
      problem: 'overlapping',
      tensor: 'y',
      message: /overlap x \[0, 8\]/,
    },
    {
      case: 'wrong dtype',
      bytes: () => rawFile({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      problem: 'unknown-dtype',
      tensor: 'w',
      message: /"I64"/,
    },
    {
      case: 'wrong byte length',
      bytes: () => rawFile({ w: f32([3], 0, 8) }, new Uint8Array(8)),
      problem: 'byte-length-mismatch',
      tensor: 'w',
      message: /8 bytes for shape \[3\] F32 \(expected 12\)/,
    },
    {
      case: 'bad shape',
      bytes: () => rawFile({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, new Uint8Array(4)),
      problem: 'bad-entry',
      tensor: 'w',
      message: /shape/,
    },
  ];

  it.each(cases)('refuses $case', ({ bytes, problem, tensor, message }) => {
    const file = join(dir, 'bad.safetensors');
    writeFileSync(file, bytes());
    let error: unknown;
    try {
      readSafetensors(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SafetensorsError);
    const e = error as SafetensorsError;
    expect(e.problem).toBe(problem);
    expect(e.file).toBe(file);
    expect(e.tensor).toBe(tensor);
    expect(e.message).toContain(file);
    expect(e.message).toMatch(message);
  });
});
