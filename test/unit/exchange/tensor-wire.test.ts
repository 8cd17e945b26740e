import { describe, expect, it } from 'vitest';
import {
  MissingTensorError, NonFiniteTensorError, TensorChecksumError, TensorDtypeError, TensorSetLengthError, TensorSetOverflowError,
  TensorShapeError, TensorStreamProtocolError, UnknownTensorError,
} from '../../../exchange/index.js';
import { chunksOf, manifestFor, OversizedTensorSetError, TensorSetAssembler, TensorSetError, type WireSlice } from '../../../exchange/tensor-wire.js';

// tensor-wire.ts is the flat-layout facade the coordinator server and worker client use.
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

describe('tensor-wire facade (flat layouts)', () => {
  it.each([1, 7, 16, 104, 4096])('arrives bit-identical in chunks of %i bytes', (chunkBytes) => {
    const got = send(values, chunkBytes);
    expect(got.version).toBe(7);
    expect(got.values).toEqual(values);
  });

  it('chunks are views, not copies; a matching target is filled in place', () => {
    const [first] = [...chunksOf(values, 8)];
    expect(first!.buffer).toBe(values.buffer);
    const target = new Float32Array(values.length);
    const assembler = new TensorSetAssembler(layout, 1 << 20, target);
    assembler.onManifest(manifestFor(layout, values, 1));
    for (const chunk of chunksOf(values, 40)) assembler.onData(chunk);
    expect(assembler.finish().values.buffer).toBe(target.buffer);
    expect(target).toEqual(values);
  });

  it('refuses a wrong shape, a missing or renamed tensor, and a wrong dtype, naming the tensor', () => {
    expect(() => send(values, 64, (m) => { m.tensors[0]!.shape = [5, 3]; })).toThrow(TensorShapeError);
    expect(() => send(values, 64, (m) => { m.tensors.pop(); })).toThrow(MissingTensorError);
    expect(() => send(values, 64, (m) => { m.tensors[1]!.name = 'x/moving_mean'; })).toThrow(UnknownTensorError);
    expect(() => send(values, 64, (m) => { m.tensors[2]!.dtype = 'float16'; })).toThrow(TensorDtypeError);
    expect(() => send(values, 64, (m) => { m.totalBytes = 100; })).toThrow(TensorSetError);
  });

  it('refuses NaN and Inf, naming the tensor and the index', () => {
    const nan = values.slice();
    nan[17] = Number.NaN;
    expect(() => send(nan, 64)).toThrow(NonFiniteTensorError);
    expect(() => send(nan, 64)).toThrow(/value NaN at index 2 \(tensor b\/moving_mean\)/);
    const inf = values.slice();
    inf[25] = Number.POSITIVE_INFINITY;
    expect(() => send(inf, 64)).toThrow(/Infinity at index 6 \(tensor c\/bias\)/);
  });

  it('refuses a flipped CRC, a truncated set, too much data, data first, and an oversized set', () => {
    expect(() => send(values, 64, (m) => { m.crc32c ^= 1; })).toThrow(TensorChecksumError);
    const short = new TensorSetAssembler(layout, 1 << 20);
    short.onManifest(manifestFor(layout, values, 1));
    short.onData(new Uint8Array(100));
    expect(() => short.finish()).toThrow(TensorSetLengthError);
    const long = new TensorSetAssembler(layout, 1 << 20);
    long.onManifest(manifestFor(layout, values, 1));
    expect(() => long.onData(new Uint8Array(105))).toThrow(TensorSetOverflowError);
    expect(() => send(values, 64, undefined, 64)).toThrow(OversizedTensorSetError);
    expect(() => new TensorSetAssembler(layout, 1 << 20).onData(new Uint8Array(4))).toThrow(TensorStreamProtocolError);
  });
});
