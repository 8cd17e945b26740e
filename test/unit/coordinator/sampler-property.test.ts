import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../src/runtime/seeded-random.js';
import { epochPermutation } from '../../../src/training/epoch-order.js';
import { AppliedLedger, EpochSampler, planIndices } from '../../../services/coordinator/sampler/index.js';
import { MAX_SHARD_FACTOR } from '../../../services/coordinator/sampler/round-plan.js';

const UNIVERSE = Array.from({ length: 12 }, (_, i) => `w${String(i).padStart(2, '0')}`);
const EPOCHS = 3;

interface Tally {
  rounds: number;
  evictions: number;
  aborts: number;
  restarts: number;
  pooledRounds: number;
  zeroBatchMembers: number;
  proportionalRounds: number;
}

/**
 * One seeded trial: random dataset size, batch size and syncEvery; every round
 * a random member set (joins and leaves), random evictions, sometimes an
 * abort or a restart from serialised state, over several epochs. `balanced`:
 * every round also gets random shares (--balance speed) in [0.5, 2].
 */
function trial(trialSeed: number, tally: Tally, balanced = false): void {
  const rand = mulberry32(trialSeed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const options = { seed: int(0, 0xffff_ffff), count: int(1, 300), batchSize: int(1, 16), syncEvery: int(1, 4) };
  const seen = new AppliedLedger(options.count); // the test's own account
  const ledger = new AppliedLedger(options.count); // the sampler's
  let sampler = new EpochSampler(options, { ledger });
  let order = [...epochPermutation(options.seed, 1, options.count)];
  let active = new Set(UNIVERSE.filter(() => rand() < 0.4));
  const restart = (): void => {
    sampler = EpochSampler.fromState(JSON.parse(JSON.stringify(sampler.state())), { count: options.count }, { ledger });
    tally.restarts++;
  };

  for (let guard = 0; ; guard++) {
    expect(guard).toBeLessThan(20_000);
    const epoch = sampler.epoch;
    if (sampler.epochDone) {
      seen.assertExactlyOnce(epoch);
      if (epoch === EPOCHS) break;
      expect(sampler.nextEpoch()).toBe(epoch + 1);
      order = [...epochPermutation(options.seed, epoch + 1, options.count)];
      continue;
    }
    // Joins and leaves at the round boundary.
    for (const id of UNIVERSE) if (rand() < 0.1) active.has(id) ? active.delete(id) : active.add(id);
    if (active.size === 0) active.add(UNIVERSE[int(0, UNIVERSE.length - 1)]!);
    active = new Set([...active].sort());
    const members = [...active];
    if (rand() < 0.05) restart();

    const before = sampler.state();
    const shares = balanced ? members.map(() => 0.5 + 1.5 * rand()) : undefined;
    const plan = sampler.planRound(members, shares);
    const full = members.length * options.syncEvery * options.batchSize;
    const available = before.pool.length + options.count - before.cursor;
    expect(plan.epoch).toBe(epoch);
    expect(plan.samples).toBe(Math.min(full, available));
    expect(plan.final).toBe(full >= available);
    expect(plan.fromPool).toBe(Math.min(before.pool.length, plan.samples));
    // Pool first, in order, then the permutation at the cursor.
    expect(planIndices(plan)).toEqual([
      ...before.pool.slice(0, plan.fromPool),
      ...order.slice(before.cursor, before.cursor + plan.samples - plan.fromPool),
    ]);
    const sizes = plan.assignments.map((a) => a.samples);
    const cap = MAX_SHARD_FACTOR * options.syncEvery * options.batchSize;
    if (!shares) expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    else if (sizes.every((n) => n < cap)) {
      // In proportion to the shares, to within rounding.
      const total = shares.reduce((a, b) => a + b, 0);
      for (const [i, n] of sizes.entries()) expect(Math.abs(n - (plan.samples * shares[i]!) / total)).toBeLessThan(1);
      tally.proportionalRounds++;
    }
    for (const a of plan.assignments) {
      expect(a.batches.length).toBeLessThanOrEqual(options.syncEvery);
      expect(a.samples).toBeLessThanOrEqual(cap);
      const maxBatch = shares ? MAX_SHARD_FACTOR * options.batchSize : options.batchSize;
      for (const b of a.batches) expect(b.length >= 1 && b.length <= maxBatch).toBe(true);
      if (a.samples === 0) tally.zeroBatchMembers++;
    }
    // Nothing already applied in this epoch is served again.
    for (const index of planIndices(plan)) expect(seen.timesApplied(epoch, index)).toBe(0);
    if (plan.fromPool > 0) tally.pooledRounds++;

    const dice = rand();
    if (dice < 0.05) {
      sampler.abort(plan);
      tally.aborts++;
      continue;
    }
    if (dice < 0.1) {
      restart(); // mid-round: the outstanding round is lost, its indices are still owed
      continue;
    }
    const contributors = members.filter(() => rand() < 0.8);
    const result = sampler.commit(plan, contributors);
    let applied = 0;
    for (const a of plan.assignments) {
      if (!contributors.includes(a.worker)) continue;
      applied += a.samples;
      for (const b of a.batches) seen.record(plan.epoch, b);
    }
    expect(result.applied).toBe(applied);
    expect(result.returned).toBe(plan.samples - applied);
    tally.evictions += result.evicted.length;
    tally.rounds++;
  }

  // Every epoch: each index exactly once, in the sampler's ledger as in ours.
  expect(seen.epochs()).toEqual([1, 2, 3]);
  for (const epoch of seen.epochs()) {
    ledger.assertExactlyOnce(epoch);
    expect(ledger.counts(epoch)).toEqual(seen.counts(epoch));
  }
}

describe('sampler property: each index applied exactly once per epoch, whatever the membership does', () => {
  it('holds over 80 seeded random trials', () => {
    const tally: Tally = { rounds: 0, evictions: 0, aborts: 0, restarts: 0, pooledRounds: 0, zeroBatchMembers: 0, proportionalRounds: 0 };
    for (let t = 0; t < 80; t++) trial(0x5a17 + t, tally);
    // The trials really exercised the paths they claim to.
    expect(tally.evictions).toBeGreaterThan(100);
    expect(tally.pooledRounds).toBeGreaterThan(100);
    expect(tally.aborts).toBeGreaterThan(10);
    expect(tally.restarts).toBeGreaterThan(10);
    expect(tally.zeroBatchMembers).toBeGreaterThan(10);
  });

  it('holds with shards cut in proportion to random shares (--balance speed)', () => {
    const tally: Tally = { rounds: 0, evictions: 0, aborts: 0, restarts: 0, pooledRounds: 0, zeroBatchMembers: 0, proportionalRounds: 0 };
    for (let t = 0; t < 80; t++) trial(0xba1 + t, tally, true);
    expect(tally.evictions).toBeGreaterThan(100);
    expect(tally.pooledRounds).toBeGreaterThan(100);
    expect(tally.restarts).toBeGreaterThan(10);
    expect(tally.proportionalRounds).toBeGreaterThan(500);
  });
});
