import { describe, expect, it } from 'vitest';
import {
  NonFiniteTensorError,
  TensorChecksumError,
  TensorSetLengthError,
  TensorSetOverflowError,
  TensorSetSink,
  TensorStreamProtocolError,
  chunkTensorSet,
  tensorSetValues,
  type TensorSet,
} from '../../../src/exchange/index.js';
import type { TensorManifest } from '../../../proto/gen/fleet/v1/coordinator.js';
import { SMALL_MODEL, smallTensorSet } from '../../fixtures/tensor-sets.js';
import { type StagedContribution, WeightedSum } from '../../../services/coordinator/aggregator/weighted-sum.js';
import { VectorMemory } from '../../../src/compute/vector-math/index.js';

const set: TensorSet = smallTensorSet(9, (i, k) => Math.cos(i * 3 + k) * 100);

function messages(s: TensorSet, chunkBytes: number): { manifest: TensorManifest; data: Buffer[] } {
  const [first, ...rest] = [...chunkTensorSet(s, chunkBytes)];
  if (first?.part?.$case !== 'manifest') throw new Error('no manifest first');
  // Copies, as a network would deliver them.
  return { manifest: first.part.value, data: rest.map((m) => Buffer.from(m.part?.$case === 'data' ? m.part.value : [])) };
}

/** Streams `s` in `chunkBytes` chunks into a sink that records the values it is handed. */
function sinkAll(
  s: TensorSet,
  chunkBytes: number,
  scratchFloats: number,
  tamper?: (data: Buffer[]) => void,
): { values: number[]; runs: number[]; finish: () => unknown } {
  const values: number[] = [];
  const runs: number[] = [];
  const sink = new TensorSetSink(
    (floats) => {
      values.push(...floats);
      runs.push(floats.length);
      return -1;
    },
    { expected: SMALL_MODEL, scratch: new Float32Array(scratchFloats) },
  );
  const { manifest, data } = messages(s, chunkBytes);
  tamper?.(data);
  sink.onManifest(manifest);
  for (const d of data) sink.onData(d);
  return { values, runs, finish: () => sink.finish() };
}

describe('tensor set sink (values summed on arrival)', () => {
  it.each([
    [1, 2],
    [3, 2],
    [4, 5],
    [7, 3],
    [100, 4],
    [1 << 20, 7],
  ])('hands over every float once, in order, whatever the chunk (%i bytes) and scratch (%i floats) sizes', (chunkBytes, scratch) => {
    const { values, runs, finish } = sinkAll(set, chunkBytes, scratch);
    expect(values).toEqual(Array.from(tensorSetValues(set)));
    expect(Math.max(...runs)).toBeLessThanOrEqual(scratch);
    expect(finish()).toMatchObject({ version: 9, crc32c: set.crc32c });
  });

  it('refuses a flipped bit by its checksum, a short or long stream by its length, data before the manifest', () => {
    expect(() =>
      sinkAll(set, 16, 4, (d) => {
        d[2]![5]! ^= 0x01;
      }).finish(),
    ).toThrow(TensorChecksumError);
    expect(() =>
      sinkAll(set, 16, 4, (d) => {
        d.pop();
      }).finish(),
    ).toThrow(TensorSetLengthError);
    expect(() =>
      sinkAll(set, 16, 4, (d) => {
        d.push(Buffer.alloc(4));
      }),
    ).toThrow(TensorSetOverflowError);
    const sink = new TensorSetSink(() => -1, { scratch: new Float32Array(4) });
    expect(() => sink.onData(Buffer.alloc(4))).toThrow(TensorStreamProtocolError);
  });

  it('reports a NaN the sink found by tensor and index, after the length and checksum checks', () => {
    const bad = smallTensorSet(9, (i, k) => (k === 2 && i === 3 ? Number.NaN : i + k));
    const told: number[] = [];
    const sink = new TensorSetSink(
      (floats) => {
        told.push(floats.length);
        return floats.findIndex((v) => Number.isNaN(v));
      },
      { expected: SMALL_MODEL, scratch: new Float32Array(3) },
    );
    const { manifest, data } = messages(bad, 8);
    sink.onManifest(manifest);
    for (const d of data) sink.onData(d);
    const err = (() => {
      try {
        sink.finish();
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(NonFiniteTensorError);
    const third = bad.entries[2]!;
    expect((err as NonFiniteTensorError).message).toMatch(/NaN at index 3/);
    expect((err as NonFiniteTensorError).tensor).toBe(third.name);
    // After the bad run the sink hears nothing more.
    expect(told.reduce((a, b) => a + b, 0)).toBeLessThan(tensorSetValues(bad).length);
  });
});

describe('staged contributions (summed on arrival, committed or dropped whole)', () => {
  for (const inMemory of [true, false]) {
    it(`a committed contribution sums exactly as add() does; a dropped one leaves no trace (${inMemory ? 'vector memory' : 'plain arrays'})`, () => {
      const n = 70_001;
      const memory = inMemory ? VectorMemory.create(4 * n) : undefined;
      const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 3);
      const reference = new WeightedSum(n, memory ? VectorMemory.create(2 * n) : undefined);
      reference.add(a, 32);
      reference.add(b, 16);
      const staged = new WeightedSum(n, memory);
      staged.add(a, 32);
      // A contribution refused half-way: dropped, the sum unchanged.
      const dropped = staged.stage(8);
      expect(dropped.accumulate(b.subarray(0, 1000))).toBe(-1);
      staged.discard(dropped);
      // One arriving in uneven runs, then committed.
      const s = staged.stage(16);
      for (let at = 0; at < n; at += 9_999) expect(s.accumulate(b.subarray(at, Math.min(n, at + 9_999)))).toBe(-1);
      staged.commit(s);
      expect(staged.contributions).toBe(2);
      expect(Array.from(staged.average())).toEqual(Array.from(reference.average()));
    });
  }

  it('a NaN stops the staged sum, which cannot be committed; one staging at a time; a reset orphans it', () => {
    const sum = new WeightedSum(8);
    const s = sum.stage(2);
    expect(() => sum.stage(2)).toThrow(/already open/);
    expect(s.accumulate(Float32Array.from([1, 2, 3, 4]))).toBe(-1);
    // The index is within the values given (the 7th of the contribution).
    expect(s.accumulate(Float32Array.from([1, 2, Number.POSITIVE_INFINITY, 4]))).toBe(2);
    expect(s.refused).toBe(true);
    expect(() => s.accumulate(new Float32Array(1))).toThrow(/refused at value 6/);
    expect(() => sum.commit(s)).toThrow(/incomplete/);
    sum.discard(s);
    const t: StagedContribution = sum.stage(1);
    sum.reset();
    expect(t.accumulate(new Float32Array(8))).toBe(-1);
    expect(() => sum.commit(t)).toThrow(/not the open one/);
    expect(() => sum.stage(0)).toThrow(/weight/);
  });
});
