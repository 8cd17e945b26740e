import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../../src/model/index.js';
import { layoutLength, weightLayout, type WeightSlice } from '../../../src/training/flat-weights.js';
import { compareNames } from '../../../src/exchange/tensor-layout.js';
import {
  ShardCountError,
  ShardMapError,
  assignShards,
  packShard,
  shardSliceOf,
  unpackShard,
} from '../../../src/exchange/shard-assignment.js';

/**
 * --shards K's map: the flat vector cut into K contiguous ranges of equal
 * size (a tensor across a boundary split into ranges of it), a pure
 * function of the layout and K (the coordinator, its aggregators and every
 * worker derive or check the same one), every float in exactly one shard.
 */

const layouts: Record<string, WeightSlice[]> = {};

beforeAll(async () => {
  await tf.setBackend('cpu');
  for (const name of ['cnn', 'resnet18', 'tiny-bn'] as const) {
    const model = buildModel({ name, seed: 1 });
    layouts[name] = weightLayout(model);
    model.dispose();
  }
});

/** The largest shard over the even share (1 = perfectly balanced). */
function imbalance(layout: readonly WeightSlice[], k: number): number {
  return Math.max(...assignShards(layout, k).map((s) => s.floats)) / (layoutLength(layout) / k);
}

describe('assignShards', () => {
  it('puts every float in exactly one shard, packed in name order (the wire order)', () => {
    for (const layout of Object.values(layouts)) {
      const total = layoutLength(layout);
      for (const k of [1, 2, 3, 4]) {
        const shards = assignShards(layout, k);
        expect(shards).toHaveLength(k);
        expect(shards.reduce((n, s) => n + s.floats, 0)).toBe(total);
        const hits = new Float32Array(total);
        for (const s of shards) {
          expect([...s.tensors].sort(compareNames)).toEqual(s.tensors);
          let at = 0;
          for (const piece of s.slices) {
            expect(piece.offset).toBe(at);
            at += piece.length;
          }
          const ones = new Float32Array(s.floats).fill(1);
          const back = new Float32Array(total);
          unpackShard(layout, s, ones, back);
          for (let i = 0; i < total; i++) hits[i]! += back[i]!;
        }
        expect(hits.every((h) => h === 1)).toBe(true);
      }
    }
  });

  it('balances the bytes to a float: cnn, resnet18 and tiny-bn at K = 2, 3, 4', () => {
    // Whole tensors could not: the cnn's fc1 kernel is 2.10M of its 3.25M floats, tiny-bn's fc kernel 99% of it.
    for (const layout of Object.values(layouts))
      for (const k of [2, 3, 4]) expect(imbalance(layout, k)).toBeLessThan(1 + (2 * k) / layoutLength(layout));
    // The cnn's fc1 kernel is split: a range of it travels as a tensor of its own.
    const cnn = assignShards(layouts.cnn!, 2);
    expect(cnn.flatMap((s) => s.tensors).filter((n) => n.startsWith('fc1/kernel@'))).toHaveLength(2);
  });

  it('is a pure function of the layout and K; a worker rebuilds the same slices from the names', () => {
    for (const layout of Object.values(layouts)) {
      expect(assignShards(layout, 3)).toEqual(assignShards([...layout], 3));
      for (const s of assignShards(layout, 3)) expect(shardSliceOf(layout, s.shard, s.tensors)).toEqual(s);
    }
    expect(() => shardSliceOf(layouts.cnn!, 1, ['fc1/kernel@0+99999999'])).toThrow(ShardMapError);
    expect(() => shardSliceOf(layouts.cnn!, 1, ['no/such'])).toThrow(ShardMapError);
  });

  it('packs and unpacks a shard: the model-sized buffer round-trips', () => {
    const layout = layouts.cnn!;
    const full = Float32Array.from({ length: layoutLength(layout) }, (_, i) => i);
    const back = new Float32Array(full.length);
    for (const s of assignShards(layout, 4)) unpackShard(layout, s, packShard(layout, s, full, new Float32Array(s.floats)), back);
    expect(Buffer.compare(Buffer.from(back.buffer), Buffer.from(full.buffer))).toBe(0);
  });

  it('refuses a K it cannot cut the model into, naming --shards', () => {
    const layout = layouts.cnn!;
    for (const k of [0, -1, 1.5, layout.length + 1]) {
      expect(() => assignShards(layout, k)).toThrow(ShardCountError);
      expect(() => assignShards(layout, k)).toThrow(`--shards ${k}:`);
    }
    expect(assignShards(layout, layout.length)).toHaveLength(layout.length);
  });
});
