import { describe, expect, it } from 'vitest';
import { checkLayout, packTensorSet, wrapTensorSet } from '../../../src/exchange/index.js';
import { entriesOf } from '../../../src/exchange/tensor-wire.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';

const layout: WeightSlice[] = [
  { name: 'a/kernel', shape: [3, 5], trainable: true, offset: 0, length: 15 },
  { name: 'b/moving_mean', shape: [4], trainable: false, offset: 15, length: 4 },
  { name: 'c/bias', shape: [7], trainable: true, offset: 19, length: 7 },
];

describe('a flat float layout as tensor-set entries', () => {
  it('gives the entries packTensorSet makes for the same tensors, so a flat buffer wraps without copying', () => {
    const values = Float32Array.from({ length: 26 }, (_, i) => i);
    const entries = entriesOf(layout);
    checkLayout(entries, values.byteLength);
    const packed = packTensorSet(
      layout.map((s) => ({ name: s.name, shape: s.shape, trainable: s.trainable, values: values.slice(s.offset, s.offset + s.length) })),
      1,
    );
    expect(entries).toEqual(packed.entries);
    const wrapped = wrapTensorSet(entries, values, 1);
    expect(wrapped.buffer.buffer).toBe(values.buffer);
    expect(wrapped.crc32c).toBe(packed.crc32c);
  });
});
