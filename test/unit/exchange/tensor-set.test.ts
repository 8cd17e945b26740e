import { describe, expect, it } from 'vitest';
import {
  TensorLayoutError,
  TensorSetLengthError,
  TensorShapeError,
  UnknownTensorError,
  alignTensorSet,
  packTensorSet,
  planTensorSet,
  tensorSetCrc32c,
  tensorSetValues,
  tensorView,
  wrapTensorSet,
  type NamedTensor,
} from '../../../src/exchange/index.js';

const named: NamedTensor[] = [
  { name: 'conv2/kernel', shape: [3, 3, 2, 4], trainable: true, values: Float32Array.from({ length: 72 }, (_, i) => i / 7) },
  { name: 'bn/moving_mean', shape: [4], trainable: false, values: Float32Array.of(1, 2, 3, 4) },
  { name: 'conv2/bias', shape: [4], trainable: true, values: Float32Array.of(-1, -2, -3, -4) },
  { name: 'Dense/kernel', shape: [2, 3], trainable: true, values: Float32Array.of(9, 8, 7, 6, 5, 4) },
  { name: 'scalar', shape: [], trainable: true, values: Float32Array.of(42) },
];

describe('tensor set', () => {
  it('packs in name order (code units: capitals first), offsets ascending with no gaps, in one buffer', () => {
    const set = packTensorSet(named, 3);
    expect(set.version).toBe(3);
    expect(set.entries.map((e) => e.name)).toEqual(['Dense/kernel', 'bn/moving_mean', 'conv2/bias', 'conv2/kernel', 'scalar']);
    let offset = 0;
    for (const e of set.entries) {
      expect(e.byteOffset).toBe(offset);
      expect(e.dtype).toBe('float32');
      offset += e.byteLength;
    }
    expect(set.buffer.byteLength).toBe(offset);
    expect(set.buffer.byteLength).toBe((72 + 4 + 4 + 6 + 1) * 4);
    expect(set.crc32c).toBe(tensorSetCrc32c(set.buffer));
    expect(set.entries.find((e) => e.name === 'bn/moving_mean')!.trainable).toBe(false);
  });

  it('views each tensor bit-identical and zero-copy', () => {
    const set = packTensorSet(named, 1);
    for (const t of named) {
      const view = tensorView(set, t.name);
      expect(view).toEqual(t.values);
      expect(view.buffer).toBe(set.buffer.buffer);
    }
    tensorView(set, 'scalar')[0] = 7;
    expect(tensorSetValues(set)[set.entries.find((e) => e.name === 'scalar')!.byteOffset / 4]).toBe(7);
    expect(() => tensorView(set, 'nope')).toThrow(UnknownTensorError);
  });

  it('copies instead of viewing when the buffer itself is not 4-byte aligned, and aligns once on request', () => {
    const set = packTensorSet(named, 1);
    const shifted = new Uint8Array(set.buffer.byteLength + 1).subarray(1);
    shifted.set(set.buffer);
    const odd = wrapTensorSet(set.entries, shifted, 1);
    expect(odd.crc32c).toBe(set.crc32c);
    const view = tensorView(odd, 'conv2/kernel');
    expect(view).toEqual(named[0]!.values);
    expect(view.buffer).not.toBe(shifted.buffer);
    const aligned = alignTensorSet(odd);
    expect(aligned.buffer.byteOffset % 4).toBe(0);
    expect(tensorView(aligned, 'conv2/kernel').buffer).toBe(aligned.buffer.buffer);
    expect(alignTensorSet(set)).toBe(set);
  });

  it('wraps an existing flat buffer without copying, checking its layout', () => {
    const entries = planTensorSet(named);
    const flat = new Float32Array(87);
    const set = wrapTensorSet(entries, flat, 5);
    expect(set.buffer.buffer).toBe(flat.buffer);
    expect(() => wrapTensorSet(entries, new Float32Array(86), 5)).toThrow(TensorSetLengthError);
  });

  it('refuses duplicate names, a values length not matching the shape, and bad dimensions', () => {
    expect(() => packTensorSet([named[1]!, { ...named[1]! }], 0)).toThrow(TensorLayoutError);
    expect(() => packTensorSet([{ ...named[1]!, shape: [5] }], 0)).toThrow(/4 values for shape \[5\]/);
    expect(() => planTensorSet([{ name: 'x', shape: [2.5], trainable: true }])).toThrow(TensorShapeError);
  });

  it('packs an empty set', () => {
    const set = packTensorSet([], 0);
    expect(set.entries).toEqual([]);
    expect(set.buffer.byteLength).toBe(0);
    expect(set.crc32c).toBe(0);
  });
});
