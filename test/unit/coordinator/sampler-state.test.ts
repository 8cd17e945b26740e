import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../src/runtime/seeded-random.js';
import {
  AppliedLedger,
  EpochSampler,
  SamplerStateError,
  planIndices,
  type RoundPlan,
  type SamplerState,
} from '../../../services/coordinator/sampler/index.js';

const IDS = ['w0', 'w1', 'w2', 'w3'];

/** A fixed schedule of member lists and evictions, drawn once from a seed. */
function schedule(seed: number, rounds: number): { members: string[]; contributors: string[] }[] {
  const rand = mulberry32(seed);
  return Array.from({ length: rounds }, () => {
    let members = IDS.filter(() => rand() < 0.7);
    if (members.length === 0) members = ['w0'];
    return { members, contributors: members.filter(() => rand() < 0.75) };
  });
}

/** Plays the schedule; `restartAt` round index: serialise to JSON and continue on a restored sampler. */
function play(
  options: { seed: number; count: number; batchSize: number; syncEvery: number },
  rounds: number,
  restartAt?: number,
): { plans: RoundPlan[]; states: SamplerState[] } {
  let sampler = new EpochSampler(options);
  const plans: RoundPlan[] = [];
  const states: SamplerState[] = [];
  schedule(99, rounds).forEach((step, r) => {
    states.push(sampler.state());
    if (r === restartAt) sampler = EpochSampler.fromState(JSON.parse(JSON.stringify(sampler.state())), { count: options.count });
    if (sampler.epochDone) sampler.nextEpoch();
    const plan = sampler.planRound(step.members);
    plans.push(plan);
    sampler.commit(plan, step.contributors);
  });
  return { plans, states };
}

describe('sampler state', () => {
  const options = { seed: 21, count: 97, batchSize: 5, syncEvery: 2 };

  it('round-trips mid-epoch with a non-empty pool: the restored sampler plans exactly what the original would', () => {
    const straight = play(options, 40);
    const restartAt = straight.states.findIndex((s, r) => r > 3 && s.pool.length > 0 && s.cursor > 0 && s.cursor < options.count);
    expect(restartAt).toBeGreaterThan(0);
    expect(play(options, 40, restartAt).plans).toEqual(straight.plans);
    // And from any other commit point, epoch boundaries included.
    for (let r = 0; r < 40; r++) expect(play(options, 40, r).plans).toEqual(straight.plans);
    expect(new Set(straight.plans.map((p) => p.epoch)).size).toBeGreaterThan(2); // crossed epoch boundaries
  });

  it('is plain JSON: a handful of numbers and the pool', () => {
    const sampler = new EpochSampler(options);
    const plan = sampler.planRound(['a', 'b']);
    sampler.commit(plan, ['a']);
    const state = sampler.state();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(Object.keys(state).sort()).toEqual([
      'applied',
      'batchSize',
      'count',
      'cursor',
      'epoch',
      'format',
      'nextRound',
      'pool',
      'seed',
      'syncEvery',
    ]);
    expect(state).toMatchObject({ format: 1, epoch: 1, cursor: 20, applied: 10, nextRound: 1 });
    expect(state.pool).toEqual(plan.assignments[1]!.batches.flat());
  });

  it('taken while a round is outstanding, restores as if that round were aborted (under a new round id)', () => {
    const sampler = new EpochSampler(options);
    sampler.commit(sampler.planRound(['a', 'b']), ['b']);
    const outstanding = sampler.planRound(['a', 'b', 'c']);
    const restored = EpochSampler.fromState(sampler.state());
    const replanned = restored.planRound(['a', 'b', 'c']);
    expect(replanned.round).toBe(outstanding.round + 1);
    expect({ ...replanned, round: 0 }).toEqual({ ...outstanding, round: 0 });
  });

  it('is deterministic: same seed, same plans; another seed, another order', () => {
    expect(play(options, 30).plans).toEqual(play(options, 30).plans);
    const other = play({ ...options, seed: 22 }, 30).plans;
    expect(other.map(planIndices)).not.toEqual(play(options, 30).plans.map(planIndices));
  });

  it('a restored sampler names the indices applied so far (what a resumed ledger starts from)', () => {
    const ledger = new AppliedLedger(options.count);
    const sampler = new EpochSampler(options, { ledger });
    for (const step of schedule(7, 6)) sampler.commit(sampler.planRound(step.members), step.contributors);
    expect(sampler.epoch).toBe(1);
    expect(sampler.pooled).toBeGreaterThan(0);
    const restored = EpochSampler.fromState(JSON.parse(JSON.stringify(sampler.state())));
    const applied = restored.appliedIndices();
    expect(applied.length).toBe(sampler.applied);
    const counts = ledger.counts(1);
    expect([...applied].sort((a, b) => a - b)).toEqual([...counts.keys()].filter((i) => counts[i] === 1));
  });

  it('starts at a given epoch', () => {
    const a = new EpochSampler({ ...options, epoch: 3 });
    expect(a.epoch).toBe(3);
    expect(a.planRound(['x']).epoch).toBe(3);
  });

  describe('refuses a bad state, naming the field', () => {
    const good = (): Record<string, unknown> => {
      const s = new EpochSampler({ seed: 5, count: 20, batchSize: 3, syncEvery: 1 });
      s.commit(s.planRound(['a', 'b']), ['a']); // cursor 6, applied 3, pool 3
      return { ...s.state() };
    };
    const cases: [string, (s: Record<string, unknown>) => unknown, string][] = [
      ['not an object', () => null, '(state)'],
      ['array', () => [], '(state)'],
      ['format', (s) => ({ ...s, format: 2 }), 'format'],
      ['seed fraction', (s) => ({ ...s, seed: 1.5 }), 'seed'],
      ['count zero', (s) => ({ ...s, count: 0 }), 'count'],
      ['batchSize missing', (s) => ({ ...s, batchSize: undefined }), 'batchSize'],
      ['epoch zero', (s) => ({ ...s, epoch: 0 }), 'epoch'],
      ['cursor beyond count', (s) => ({ ...s, cursor: 21 }), 'cursor'],
      ['accounting', (s) => ({ ...s, applied: 4 }), 'applied'],
      ['pool not an array', (s) => ({ ...s, pool: '1,2,3' }), 'pool'],
      ['pool index out of range', (s) => ({ ...s, pool: [...(s.pool as number[]).slice(1), 20] }), 'pool[2]'],
      [
        'pool duplicate',
        (s) => {
          const p = s.pool as number[];
          return { ...s, pool: [p[0], p[1], p[0]] };
        },
        'pool[2]',
      ],
    ];
    for (const [name, corrupt, field] of cases) {
      it(name, () => {
        const bad = corrupt(good());
        try {
          EpochSampler.fromState(bad);
          expect.unreachable('accepted a bad state');
        } catch (e) {
          expect(e).toBeInstanceOf(SamplerStateError);
          expect((e as SamplerStateError).field).toBe(field);
        }
      });
    }

    it('a pooled index not yet served (it would be trained twice)', () => {
      const s = new EpochSampler({ seed: 5, count: 20, batchSize: 3, syncEvery: 1 });
      const unserved = s.planRound(['a', 'b', 'c', 'd', 'e', 'f', 'g']).assignments[6]!.batches[0]![0]!; // position 18
      const state = { ...good(), pool: [unserved, ...(good().pool as number[]).slice(1)] };
      expect(() => EpochSampler.fromState(state)).toThrow(/not served yet/);
    });

    it('a state from another dataset', () => {
      expect(() => EpochSampler.fromState(good(), { count: 50_000 })).toThrow(SamplerStateError);
      expect(() => EpochSampler.fromState(good(), { count: 50_000 })).toThrow(/count = 20: the dataset has 50000/);
    });
  });
});
