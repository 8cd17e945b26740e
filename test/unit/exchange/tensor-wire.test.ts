import { describe, expect, it } from 'vitest';
import { chunksOf, manifestFor, OversizedTensorSetError, TensorSetAssembler, TensorSetError, type WireSlice } from '../../../exchange/tensor-wire.js';

const layout: WireSlice[] = [
  { name: 'a/kernel', shape: [3, 5], trainable: true, offset: 0, length: 15 },
  { name: 'b/moving_mean', shape: [4], trainable: false, offset: 15, length: 4 },
  { name: 'c/bias', shape: [7], trainable: true, offset: 19, length: 7 },
];
const values = Float32Array.from({ length: 26 }, (_, i) => Math.sin(i) * 10);

function send(v: Float32Array, chunkBytes: number, tamper?: (m: ReturnType<typeof manifestFor>) => void, limit = 1 << 20) {
  const manifest = manifestFor(layout, v, 7);
  tamper?.(manifest);
  const assembler = new TensorSetAssembler(layout, limit);
  assembler.onManifest(manifest);
  for (const chunk of chunksOf(v, chunkBytes)) assembler.onData(Uint8Array.from(chunk));
  return assembler.finish();
}

describe('tensor set wire format', () => {
  it.each([1, 7, 16, 104, 4096])('arrives bit-identical in chunks of %i bytes', (chunkBytes) => {
    const got = send(values, chunkBytes);
    expect(got.version).toBe(7);
    expect(got.values).toEqual(values);
  });

  it('chunks are views, not copies', () => {
    const [first] = [...chunksOf(values, 8)];
    expect(first!.buffer).toBe(values.buffer);
  });

  it('refuses a wrong shape, a missing or renamed tensor, and a wrong dtype, naming the tensor', () => {
    expect(() => send(values, 64, (m) => { m.tensors[0]!.shape = [5, 3]; })).toThrow(/a\/kernel.*|shape \[5,3\]/);
    expect(() => send(values, 64, (m) => { m.tensors.pop(); })).toThrow(/2 tensors, the model has 3/);
    expect(() => send(values, 64, (m) => { m.tensors[1]!.name = 'x/moving_mean'; })).toThrow(/expected b\/moving_mean/);
    expect(() => send(values, 64, (m) => { m.tensors[2]!.dtype = 'float16'; })).toThrow(/dtype float16/);
    expect(() => send(values, 64, (m) => { m.totalBytes = 100; })).toThrow(TensorSetError);
  });

  it('refuses NaN and Inf, naming the tensor and the index', () => {
    const nan = values.slice();
    nan[17] = Number.NaN;
    expect(() => send(nan, 64)).toThrow(/value NaN at index 2.*b\/moving_mean/);
    const inf = values.slice();
    inf[25] = Number.POSITIVE_INFINITY;
    expect(() => send(inf, 64)).toThrow(/Infinity at index 6.*c\/bias/);
  });

  it('refuses a flipped byte (CRC), a truncated set, too much data, and an oversized set', () => {
    expect(() => send(values, 64, (m) => { m.crc32 ^= 1; })).toThrow(/CRC-32 mismatch/);
    const assembler = new TensorSetAssembler(layout, 1 << 20);
    assembler.onManifest(manifestFor(layout, values, 1));
    assembler.onData(new Uint8Array(100));
    expect(() => assembler.finish()).toThrow(/100 of 104 bytes/);
    expect(() => assembler.onData(new Uint8Array(5))).toThrow(/more data than/);
    expect(() => send(values, 64, undefined, 64)).toThrow(OversizedTensorSetError);
    expect(() => new TensorSetAssembler(layout, 1 << 20).onData(new Uint8Array(4))).toThrow(/data before the manifest/);
  });
});
