import { describe, expect, it } from 'vitest';
import { IMAGE_LEN } from '../../../src/augment/index.js';
import { TrainBatchMaker, type TrainBatch } from '../../../src/training/train-batch.js';

/**
 * A worker makes a round's first batch in slices while its download runs
 * (makeInSlices); training must see the batch make() gives, to the bit.
 */
const COUNT = 90;
const split = {
  images: Uint8Array.from({ length: COUNT * IMAGE_LEN }, (_, i) => (i * 2654435761) >>> 24),
  labels: Uint8Array.from({ length: COUNT }, (_, i) => (i * 7) % 10),
};

const recipe = (o: { mixupAlpha?: number; cutmixAlpha?: number; labelSmoothing?: number }) => ({
  augment: 'full' as const,
  mixupAlpha: o.mixupAlpha ?? 0,
  cutmixAlpha: o.cutmixAlpha ?? 0,
  labelSmoothing: o.labelSmoothing ?? 0,
  seed: 5,
  batchSize: 24,
});

/** The three arrays, copied out of the maker's reused buffers. */
const copy = (b: TrainBatch) => ({ x: Float32Array.from(b.x), targets: Float32Array.from(b.targets), labels: Int32Array.from(b.labels) });

const indicesOf = (n: number, from: number) => Array.from({ length: n }, (_, i) => (from + i * 11) % COUNT);

describe('TrainBatchMaker.makeInSlices', () => {
  for (const [name, o] of [
    ['crop, flip, jitter, label smoothing', { labelSmoothing: 0.1 }],
    ['Mixup', { mixupAlpha: 0.4 }],
    ['Mixup and CutMix', { mixupAlpha: 0.4, cutmixAlpha: 1 }],
  ] as const) {
    it(`gives make()'s batch to the bit (${name}), whatever the slice size, and lets the event loop run between slices`, async () => {
      const made = new TrainBatchMaker(split, recipe(o), 10);
      const sliced = new TrainBatchMaker(split, recipe(o), 10);
      // 24 (the batch size), 7 (a short last batch), 31 (a balanced round's larger shard: the buffers grow).
      for (const [n, slice] of [
        [24, 16],
        [24, 5],
        [7, 16],
        [31, 4],
        [24, 24],
      ] as const) {
        const indices = indicesOf(n, n + slice);
        const want = copy(made.make(indices, 3, 1000 + n));
        let yields = 0;
        const got = copy(
          await sliced.makeInSlices(indices, 3, 1000 + n, {
            slice,
            between: async () => {
              yields++;
              await new Promise((resolve) => setImmediate(resolve));
            },
          }),
        );
        expect(yields).toBe(Math.ceil(n / slice));
        expect(got.x.length).toBe(n * IMAGE_LEN);
        expect(Buffer.from(got.x.buffer).equals(Buffer.from(want.x.buffer))).toBe(true);
        expect(Buffer.from(got.targets.buffer).equals(Buffer.from(want.targets.buffer))).toBe(true);
        expect(got.labels).toEqual(want.labels);
      }
    });
  }

  it('a slice made while another maker works in between is unaffected (augmentation shares module-level scratch)', async () => {
    const mine = new TrainBatchMaker(split, recipe({ mixupAlpha: 0.4 }), 10);
    const other = new TrainBatchMaker(split, recipe({ cutmixAlpha: 1 }), 10);
    const reference = new TrainBatchMaker(split, recipe({ mixupAlpha: 0.4 }), 10);
    const indices = indicesOf(24, 3);
    const want = copy(reference.make(indices, 2, 77));
    const got = copy(
      await mine.makeInSlices(indices, 2, 77, {
        slice: 8,
        between: async () => {
          other.make(indicesOf(24, 40), 9, 5);
        },
      }),
    );
    expect(Buffer.from(got.x.buffer).equals(Buffer.from(want.x.buffer))).toBe(true);
    expect(Buffer.from(got.targets.buffer).equals(Buffer.from(want.targets.buffer))).toBe(true);
  });
});
