import { describe, expect, it } from 'vitest';
import { WorkerSpeeds } from '../../../services/coordinator/balance/worker-speeds.js';
import { EpochSampler, planIndices } from '../../../services/coordinator/sampler/index.js';
import { layoutRound, proportionalSizes } from '../../../services/coordinator/sampler/round-plan.js';

describe('--balance speed: shards in proportion to measured speed', () => {
  it('proportionalSizes follows the shares, sums exactly and rounds by largest remainder', () => {
    expect(proportionalSizes(128, [1, 1], 256)).toEqual([64, 64]);
    expect(proportionalSizes(128, [1, 3], 256)).toEqual([32, 96]);
    expect(proportionalSizes(10, [1, 1, 1], 20)).toEqual([4, 3, 3]); // ties: the earlier member
    expect(proportionalSizes(100, [2, 1, 1], 200)).toEqual([50, 25, 25]);
    expect(proportionalSizes(7, [1, 2], 100)).toEqual([2, 5]); // 2.33 / 4.67
  });

  it('no shard passes the cap: the excess goes to the others', () => {
    // 128 at 1:3 would be 32/96; capped at 80 the first takes the rest.
    expect(proportionalSizes(128, [1, 3], 80)).toEqual([48, 80]);
    expect(proportionalSizes(100, [8, 1, 1], 40)).toEqual([40, 30, 30]);
    expect(() => proportionalSizes(10, [1, 0], 10)).toThrow(/positive and finite/);
  });

  it("layoutRound with shares keeps the sequence order: the concatenation is the equal layout's", () => {
    const sequence = Array.from({ length: 96 }, (_, i) => 1000 + i);
    const equal = layoutRound(sequence, ['a', 'b', 'c'], 16, undefined, 2);
    const balanced = layoutRound(sequence, ['a', 'b', 'c'], 16, [1, 2, 3], 2);
    expect(balanced.map((a) => a.samples)).toEqual([16, 32, 48]);
    // K = 2 local steps: each shard in two batches as equal as possible (up to 2x --batch-size).
    expect(balanced.map((a) => a.batches.map((b) => b.length))).toEqual([
      [8, 8],
      [16, 16],
      [24, 24],
    ]);
    const flat = (as: typeof equal) => as.flatMap((a) => a.batches.flat());
    expect(flat(balanced)).toEqual(flat(equal));
  });

  it('the sampler takes the same indices balanced or not; only the cut moves', () => {
    const equal = new EpochSampler({ seed: 4, count: 300, batchSize: 32, syncEvery: 1 });
    const balanced = new EpochSampler({ seed: 4, count: 300, batchSize: 32, syncEvery: 1 });
    const a = equal.planRound(['a', 'b']);
    const b = balanced.planRound(['a', 'b'], [0.5, 1.5]);
    expect(planIndices(b)).toEqual(planIndices(a));
    expect(b.assignments.map((x) => x.samples)).toEqual([16, 48]);
    expect(() => balanced.commit(b, ['a', 'b'])).not.toThrow();
    expect(() => balanced.planRound(['a', 'b'], [1])).toThrow(/1 shares for 2 members/);
  });

  it('WorkerSpeeds: shares from images per second, smoothed, clamped, the mean for a newcomer', () => {
    const speeds = new WorkerSpeeds(1, 2);
    expect(speeds.shares(['a', 'b'])).toBeUndefined(); // nothing measured: equal cut
    speeds.record('a', 64, 2000); // 32 images/s
    speeds.record('b', 64, 1000); // 64 images/s
    expect(speeds.shares(['a', 'b'])).toEqual([32 / 48, 64 / 48]);
    expect(speeds.shares(['a', 'b', 'c'])).toEqual([32 / 48, 64 / 48, 1]); // c: the mean
    speeds.record('a', 64, 0); // no time reported: ignored
    expect(speeds.shares(['a', 'b'])).toEqual([32 / 48, 64 / 48]);
    speeds.record('a', 10, 1000); // 10 vs 64: clamped to [1/2, 2] of the mean
    const clamped = speeds.shares(['a', 'b'])!;
    expect(clamped[0]).toBe(0.5);
    expect(clamped[1]).toBeCloseTo(64 / 37, 12);
    speeds.keepOnly(['b']);
    expect(speeds.shares(['a', 'b'])).toEqual([1, 1]); // a forgotten: counts as the mean

    const smoothed = new WorkerSpeeds(0.5, 2);
    smoothed.record('a', 100, 1000);
    smoothed.record('a', 100, 500); // 100 then 200 images/s: halfway, 150
    smoothed.record('b', 150, 1000);
    for (const share of smoothed.shares(['a', 'b'])!) expect(share).toBeCloseTo(1, 12);
  });
});
