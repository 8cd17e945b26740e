import { describe, expect, it } from 'vitest';
import {
  AppliedLedger,
  EpochIncompleteError,
  EpochSampler,
  LedgerIndexError,
  MemberListError,
  RoundOutstandingError,
  SamplerOptionError,
  UnknownMemberError,
  UnknownRoundError,
} from '../../../services/coordinator/sampler/index.js';

const options = { seed: 1, count: 50, batchSize: 4, syncEvery: 1 };

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('sampler misuse gets a typed error naming the bad value', () => {
  it('options out of range', () => {
    const bad: [string, unknown][] = [
      ['seed', -1],
      ['seed', 2 ** 32],
      ['seed', 0.5],
      ['count', 0],
      ['count', Number.NaN],
      ['batchSize', 0],
      ['batchSize', '32'],
      ['syncEvery', 0],
      ['syncEvery', 1.5],
      ['epoch', 0],
    ];
    for (const [option, value] of bad) {
      const e = thrown(() => new EpochSampler({ ...options, [option]: value }));
      expect(e).toBeInstanceOf(SamplerOptionError);
      expect(e).toMatchObject({ option, value });
      expect((e as Error).message).toContain(`${option} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
    }
  });

  it('member lists that are empty, blank, unsorted or duplicated', () => {
    const sampler = new EpochSampler(options);
    const cases: [string[], string, number][] = [
      [[], 'empty', -1],
      [['a', ''], 'blank', 1],
      [['b', 'a'], 'unsorted', 1],
      [['a', 'b', 'b'], 'duplicate', 2],
      [['w10', 'w9', 'w2'], 'unsorted', 2], // string order: 'w10' < 'w9', then 'w9' > 'w2'
    ];
    for (const [members, reason, position] of cases) {
      const e = thrown(() => sampler.planRound(members));
      expect(e).toBeInstanceOf(MemberListError);
      expect(e).toMatchObject({ reason, position, members });
    }
    expect(sampler.outstandingRound).toBeNull(); // nothing was planned
  });

  it('planning while a round is outstanding', () => {
    const sampler = new EpochSampler(options);
    sampler.planRound(['a']);
    expect(thrown(() => sampler.planRound(['a']))).toMatchObject({ constructor: RoundOutstandingError, outstandingRound: 0 });
  });

  it('committing or aborting a round that is not outstanding, and changing nothing', () => {
    const sampler = new EpochSampler(options);
    expect(thrown(() => sampler.commit({ round: 0 }, ['a']))).toMatchObject({
      constructor: UnknownRoundError,
      round: 0,
      outstandingRound: null,
    });
    const plan = sampler.planRound(['a', 'b']);
    expect(thrown(() => sampler.commit({ round: 7 }, ['a']))).toMatchObject({
      constructor: UnknownRoundError,
      round: 7,
      outstandingRound: 0,
    });
    expect(thrown(() => sampler.abort({ round: 7 }))).toBeInstanceOf(UnknownRoundError);
    sampler.commit(plan, ['a', 'b']);
    expect(thrown(() => sampler.commit(plan, ['a', 'b']))).toBeInstanceOf(UnknownRoundError); // twice
    expect(sampler.applied).toBe(8);
  });

  it('a contributor that was not a member changes nothing', () => {
    const sampler = new EpochSampler(options);
    const plan = sampler.planRound(['a', 'b']);
    const before = sampler.state();
    expect(thrown(() => sampler.commit(plan, ['a', 'z']))).toMatchObject({ constructor: UnknownMemberError, worker: 'z', round: 0 });
    expect(sampler.state()).toEqual(before);
    expect(sampler.outstandingRound).toBe(0);
    expect(sampler.commit(plan, ['a', 'b']).applied).toBe(8);
  });

  it('nextEpoch before the epoch is applied', () => {
    const sampler = new EpochSampler({ ...options, count: 4 });
    expect(thrown(() => sampler.nextEpoch())).toMatchObject({
      constructor: EpochIncompleteError,
      epoch: 1,
      applied: 0,
      count: 4,
      outstandingRound: null,
    });
    sampler.planRound(['a']);
    expect(thrown(() => sampler.nextEpoch())).toMatchObject({ outstandingRound: 0 });
  });

  it('the ledger refuses indices outside the dataset and epochs below 1, recording nothing', () => {
    const ledger = new AppliedLedger(3);
    expect(thrown(() => ledger.record(1, [0, 3]))).toMatchObject({ constructor: LedgerIndexError, index: 3, count: 3 });
    expect(thrown(() => ledger.record(0, [1]))).toBeInstanceOf(LedgerIndexError);
    expect(ledger.epochs()).toEqual([]);
  });
});
