import { describe, expect, it } from 'vitest';
import { epochPermutation } from '../../../src/training/epoch-order.js';
import {
  AppliedLedger,
  EpochCompleteError,
  EpochIncompleteError,
  EpochSampler,
  planIndices,
} from '../../../services/coordinator/sampler/index.js';

describe('sampler: evicted members give their batches back', () => {
  it("returns an evicted member's batches to the pool, serves them first, and applies each index once", () => {
    const count = 40;
    const order = [...epochPermutation(2, 1, count)];
    const ledger = new AppliedLedger(count);
    const sampler = new EpochSampler({ seed: 2, count, batchSize: 4, syncEvery: 1 }, { ledger });

    const r0 = sampler.planRound(['a', 'b', 'c']);
    const result = sampler.commit(r0, ['a', 'c']); // b missed the deadline
    expect(result).toMatchObject({ round: 0, epoch: 1, applied: 8, returned: 4, evicted: ['b'], epochDone: false });
    expect(sampler.pooled).toBe(4);
    expect(sampler.state().cursor).toBe(12);

    // b rejoined; the pool comes first, then the permutation at the cursor.
    const r1 = sampler.planRound(['a', 'b', 'c']);
    expect(r1.fromPool).toBe(4);
    expect(r1.assignments[0]!.batches[0]).toEqual(order.slice(4, 8));
    expect(r1.assignments[1]!.batches[0]).toEqual(order.slice(12, 16));
    expect(r1.assignments[2]!.batches[0]).toEqual(order.slice(16, 20));
    sampler.commit(r1, ['a', 'b', 'c']);
    expect(sampler.pooled).toBe(0);

    while (!sampler.epochDone) {
      const plan = sampler.planRound(['a', 'b', 'c']);
      sampler.commit(plan, plan.waitFor);
    }
    ledger.assertExactlyOnce(1);
    expect(ledger.report(1).ok).toBe(true);
  });

  it('keeps the pool in return order when it is larger than a round', () => {
    const count = 24;
    const order = [...epochPermutation(4, 1, count)];
    const sampler = new EpochSampler({ seed: 4, count, batchSize: 2, syncEvery: 2 });
    const r0 = sampler.planRound(['a', 'b', 'c']); // 12 indices, 4 each
    sampler.commit(r0, ['b']); // a and c evicted: pool = a's 4, then c's 4
    expect(sampler.state().pool).toEqual([...order.slice(0, 4), ...order.slice(8, 12)]);
    const r1 = sampler.planRound(['b']); // takes 4 from the pool, leaves 4
    expect(planIndices(r1)).toEqual(order.slice(0, 4));
    sampler.commit(r1, []); // evicted again: goes behind what is left
    expect(sampler.state().pool).toEqual([...order.slice(8, 12), ...order.slice(0, 4)]);
    const r2 = sampler.planRound(['a', 'b']); // a full round is 8: all of it from the pool
    expect(planIndices(r2)).toEqual([...order.slice(8, 12), ...order.slice(0, 4)]);
    expect(r2.fromPool).toBe(8);
  });

  it('finishes an epoch with pooled leftovers before any index of the next', () => {
    const count = 10;
    const ledger = new AppliedLedger(count);
    const sampler = new EpochSampler({ seed: 8, count, batchSize: 4, syncEvery: 1 }, { ledger });
    const r0 = sampler.planRound(['a', 'b']);
    sampler.commit(r0, ['a', 'b']);
    const r1 = sampler.planRound(['a', 'b']); // the last 2: one each
    expect(r1.final).toBe(true);
    expect(sampler.commit(r1, ['a'])).toMatchObject({ applied: 1, returned: 1, epochDone: false });
    expect(() => sampler.nextEpoch()).toThrow(EpochIncompleteError);
    const r2 = sampler.planRound(['a', 'b', 'c']);
    expect(r2.epoch).toBe(1);
    expect(r2.samples).toBe(1);
    expect(r2.waitFor).toEqual(['a']);
    expect(sampler.commit(r2, ['a']).epochDone).toBe(true);
    expect(() => sampler.planRound(['a'])).toThrow(EpochCompleteError);
    expect(sampler.nextEpoch()).toBe(2);
    const r3 = sampler.planRound(['a', 'b']);
    expect(r3.epoch).toBe(2);
    expect(planIndices(r3)).toEqual([...epochPermutation(8, 2, count)].slice(0, 8));
    ledger.assertExactlyOnce(1);
  });

  it('a round nobody contributes to returns everything; abort restores the sampler exactly', () => {
    const sampler = new EpochSampler({ seed: 6, count: 20, batchSize: 3, syncEvery: 1 });
    const before = sampler.state();
    const r0 = sampler.planRound(['a', 'b']);
    sampler.abort(r0);
    expect(sampler.state()).toEqual({ ...before, nextRound: 1 });
    const r1 = sampler.planRound(['a', 'b']);
    expect(r1.round).toBe(1);
    expect(planIndices(r1)).toEqual(planIndices(r0));
    expect(sampler.commit(r1, [])).toMatchObject({ applied: 0, returned: 6, evicted: ['a', 'b'] });
    expect(sampler.state()).toMatchObject({ cursor: 6, applied: 0, pool: planIndices(r1) });
  });
});

describe('AppliedLedger', () => {
  it('counts per epoch and reports missing and repeated indices', () => {
    const ledger = new AppliedLedger(5);
    ledger.record(1, [0, 1, 2]);
    ledger.record(1, [2, 3]);
    ledger.record(2, [4]);
    expect([...ledger.counts(1)]).toEqual([1, 1, 2, 1, 0]);
    expect(ledger.timesApplied(1, 2)).toBe(2);
    expect(ledger.epochs()).toEqual([1, 2]);
    expect(ledger.report(1)).toMatchObject({ ok: false, missing: [4], missingCount: 1, repeated: [2], repeatedCount: 1 });
    expect(() => ledger.assertExactlyOnce(1)).toThrow(/epoch 1: 1 indices never applied \(first 4\), 1 applied more than once \(first 2\)/);
    ledger.forget(1);
    expect(ledger.epochs()).toEqual([2]);
  });
});
