import { describe, expect, it } from 'vitest';
import { epochPermutation } from '../../../src/training/epoch-order.js';
import { EpochSampler, planIndices, stepIndices, type RoundPlan } from '../../../services/coordinator/sampler/index.js';

/** Plans and fully commits rounds until `epochs` epochs are done; returns every plan. */
function runAll(sampler: EpochSampler, members: string[], epochs: number): RoundPlan[] {
  const plans: RoundPlan[] = [];
  for (let e = 0; e < epochs; e++) {
    if (e > 0) sampler.nextEpoch();
    while (!sampler.epochDone) {
      const plan = sampler.planRound(members);
      plans.push(plan);
      sampler.commit(plan, plan.waitFor);
    }
  }
  return plans;
}

describe('sampler: synchronous data parallelism is exact', () => {
  it('2 members at batch 32 see what 1 member at batch 64 sees, round by round, across epochs (count not divisible)', () => {
    const count = 150; // 64 + 64 + 22: the last round is short
    const one = runAll(new EpochSampler({ seed: 11, count, batchSize: 64, syncEvery: 1 }), ['solo'], 3);
    const two = runAll(new EpochSampler({ seed: 11, count, batchSize: 32, syncEvery: 1 }), ['w0', 'w1'], 3);
    expect(two.length).toBe(one.length);
    expect(one.length).toBe(9);
    one.forEach((big, r) => {
      const small = two[r]!;
      expect(small.epoch).toBe(big.epoch);
      expect(planIndices(small)).toEqual(planIndices(big));
      expect(big.assignments[0]!.batches).toHaveLength(1);
      for (const a of small.assignments) expect(a.batches.length).toBeLessThanOrEqual(1);
    });
    // Member i holds the i-th contiguous slice of the permutation.
    for (let epoch = 1; epoch <= 3; epoch++) {
      const order = [...epochPermutation(11, epoch, count)];
      const rounds = two.filter((p) => p.epoch === epoch);
      expect(rounds.map((p) => p.assignments.map((a) => a.samples))).toEqual([
        [32, 32],
        [32, 32],
        [11, 11],
      ]);
      let pos = 0;
      for (const plan of rounds) {
        for (const a of plan.assignments) {
          expect(a.batches[0] ?? []).toEqual(order.slice(pos, pos + a.samples));
          pos += a.samples;
        }
      }
      expect(pos).toBe(count);
    }
    expect(two.at(-1)!.final).toBe(true);
  });

  it('holds for 3 members at batch 10 against 1 at batch 30, with an uneven last round', () => {
    const count = 67; // 30 + 30 + 7 -> last round split 3, 2, 2
    const one = runAll(new EpochSampler({ seed: 5, count, batchSize: 30, syncEvery: 1 }), ['a'], 2);
    const three = runAll(new EpochSampler({ seed: 5, count, batchSize: 10, syncEvery: 1 }), ['a', 'b', 'c'], 2);
    expect(three.map(planIndices)).toEqual(one.map(planIndices));
    expect(three[2]!.assignments.map((a) => a.samples)).toEqual([3, 2, 2]);
  });

  it('a member gets zero batches when fewer indices than members are left, and is not waited for', () => {
    const sampler = new EpochSampler({ seed: 1, count: 3, batchSize: 4, syncEvery: 1 });
    const plan = sampler.planRound(['a', 'b', 'c', 'd', 'e']);
    expect(plan.assignments.map((a) => a.samples)).toEqual([1, 1, 1, 0, 0]);
    expect(plan.assignments[4]!.batches).toEqual([]);
    expect(plan.waitFor).toEqual(['a', 'b', 'c']);
    expect(plan.final).toBe(true);
    const result = sampler.commit(plan, plan.waitFor);
    expect(result).toMatchObject({ applied: 3, returned: 0, evicted: [], epochDone: true });
  });
});

describe('sampler: syncEvery K > 1 gives each member a contiguous shard of K batches', () => {
  it('member i trains the i-th shard of K*batchSize indices, batch after batch', () => {
    const count = 30;
    const order = [...epochPermutation(3, 1, count)];
    const sampler = new EpochSampler({ seed: 3, count, batchSize: 4, syncEvery: 3 });
    const first = sampler.planRound(['a', 'b']);
    expect(first.samples).toBe(24);
    expect(first.assignments[0]!.batches).toEqual([order.slice(0, 4), order.slice(4, 8), order.slice(8, 12)]);
    expect(first.assignments[1]!.batches).toEqual([order.slice(12, 16), order.slice(16, 20), order.slice(20, 24)]);
    expect(stepIndices(first, 1)).toEqual([...order.slice(4, 8), ...order.slice(16, 20)]);
    sampler.commit(first, ['a', 'b']);
    // 6 left: 3 each, one short batch, fewer than K steps.
    const last = sampler.planRound(['a', 'b']);
    expect(last.final).toBe(true);
    expect(last.assignments[0]!.batches).toEqual([order.slice(24, 27)]);
    expect(last.assignments[1]!.batches).toEqual([order.slice(27, 30)]);
  });

  it('a short round splits evenly, then cuts each shard into full batches and one shorter', () => {
    const sampler = new EpochSampler({ seed: 9, count: 19, batchSize: 4, syncEvery: 2 });
    const plan = sampler.planRound(['a', 'b', 'c']); // a full round would take 24
    expect(plan.assignments.map((a) => a.batches.map((b) => b.length))).toEqual([
      [4, 3],
      [4, 2],
      [4, 2],
    ]);
    expect(planIndices(plan)).toEqual([...epochPermutation(9, 1, 19)]);
  });

  it('never gives a batch above batchSize nor more than K batches at an epoch end', () => {
    for (let count = 1; count <= 60; count++) {
      for (const members of [['a'], ['a', 'b'], ['a', 'b', 'c', 'd', 'e', 'f', 'g']]) {
        const sampler = new EpochSampler({ seed: count, count, batchSize: 5, syncEvery: 3 });
        while (!sampler.epochDone) {
          const plan = sampler.planRound(members);
          for (const a of plan.assignments) {
            expect(a.batches.length).toBeLessThanOrEqual(3);
            for (const b of a.batches) expect(b.length).toBeGreaterThan(0);
            for (const b of a.batches) expect(b.length).toBeLessThanOrEqual(5);
          }
          const sizes = plan.assignments.map((a) => a.samples);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
          sampler.commit(plan, members);
        }
      }
    }
  });
});
