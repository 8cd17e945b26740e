/**
 * The coordinator's sampler: which sample indices each member trains in each
 * synchronous round, such that every index is applied exactly once per epoch
 * however members join, leave or are evicted.
 *
 * State. seed, epoch, a cursor into the epoch's permutation
 * (`epochPermutation(seed, epoch, count)`), a pool of indices returned by
 * evicted members, the count of applied indices and the next round id. It is
 * JSON-safe (`state()`), restored with `EpochSampler.fromState`, and the
 * order of every later round is a pure function of it and the member lists.
 *
 * Elastic membership. With `globalBatch` G (what fleet's coordinator always
 * gives: --batch-size x MAX workers at the run's start) a round takes
 * G * syncEvery indices whoever is present, cut evenly among the members:
 * each member's batch is ceil(G / members), so 3 members of a G = 48 run
 * train batches of 16 and 2 members batches of 24, and the run's steps and
 * learning-rate schedule do not depend on the membership. Without it, G is
 * members * batchSize (every member's batch fixed; the round grows and
 * shrinks with the membership), which the rest of this note describes.
 *
 * A round. `planRound(members)` (ids sorted ascending, distinct) takes the
 * round's sequence: up to members * syncEvery * batchSize indices, first from
 * the pool in the order returned, then from the permutation at the cursor.
 * Member i gets the i-th contiguous slice of that sequence as its shard, cut
 * into consecutive batches of batchSize (like PyTorch's DistributedSampler
 * with a contiguous split). So with an empty pool and syncEvery = 1, the
 * members' batches concatenated in member order are exactly the next
 * members * batchSize indices of the permutation: 2 workers at batch 32 see
 * what 1 worker at batch 64 sees, in the same order, and a sample-weighted
 * gradient average reproduces the big batch. With syncEvery = K, member i's
 * K batches are the consecutive batches of its shard of K * batchSize
 * indices (`stepIndices` gives what all members train at one local step).
 *
 * An epoch's end. When fewer indices are left than a full round takes, the
 * round takes all of them (`plan.final`), split as evenly as possible: shard
 * sizes differ by at most one, each shard is cut into full batches and one
 * shorter batch, so no batch exceeds batchSize and no member gets more than
 * K batches. For K = 1 the concatenation is still the single worker's last,
 * short batch. A member may get zero batches when fewer indices than members
 * are left: it trains nothing and sends nothing; the coordinator waits only
 * for `plan.waitFor` and leaves zero-sample members out of the average
 * (they stay members; commit ignores them whether listed or not).
 *
 * Commit. The sampler moves only at commit points: `planRound` changes
 * nothing but the round id until `commit(plan, contributed)`. Then the
 * batches of contributing members are applied; those of the members that did
 * not contribute (evicted at the deadline) go to the end of the pool and are
 * served first by the next rounds of the same epoch. A member's contribution
 * is all of its batches or nothing. `abort(plan)` drops the round as if it
 * had never been planned, and `state()` taken while a round is outstanding
 * describes the sampler as if that round were aborted (a restart replans
 * those indices under a new round id, so stale messages cannot match).
 *
 * Epochs. Rounds never mix epochs: an epoch's last rounds carry only its own
 * leftover indices. `epochDone` is true once every index of the epoch has
 * been applied; planning then throws until `nextEpoch()` moves to epoch + 1
 * and a new permutation. Advancing is explicit so the coordinator sees the
 * boundary (epoch-end checkpoint, event, evaluation).
 */
import { epochPermutation } from '../../../src/training/epoch-order.js';
import type { AppliedLedger } from './applied-ledger.js';
import {
  EpochCompleteError,
  EpochIncompleteError,
  MemberListError,
  RoundOutstandingError,
  UnknownMemberError,
  UnknownRoundError,
} from './errors.js';
import { layoutRound, type RoundPlan } from './round-plan.js';
import { compileSamplerOptions, type SamplerOptions } from './sampler-options.js';
import { parseSamplerState, type SamplerState } from './sampler-state.js';

/** What a commit did. */
export interface CommitResult {
  readonly round: number;
  readonly epoch: number;
  /** Indices applied by this commit. */
  readonly applied: number;
  /** Indices of non-contributing members put back in the pool. */
  readonly returned: number;
  /** Members whose batches were returned (had batches and did not contribute), in member order. */
  readonly evicted: readonly string[];
  readonly epochDone: boolean;
}

export interface SamplerExtras {
  /** Records every applied index (debug check of exactly-once); not part of the state. */
  readonly ledger?: AppliedLedger;
}

interface Outstanding {
  readonly plan: RoundPlan;
  readonly fromOrder: number;
}

export class EpochSampler {
  readonly seed: number;
  readonly count: number;
  readonly batchSize: number;
  readonly syncEvery: number;
  /** Samples per local step over all members (fixed), or null: members * batchSize. */
  readonly globalBatch: number | null;
  private currentEpoch: number;
  private order: Uint32Array;
  private cursor: number;
  private pool: number[];
  private appliedCount: number;
  private nextRound: number;
  private outstanding: Outstanding | null = null;
  private readonly ledger: AppliedLedger | undefined;

  constructor(options: SamplerOptions, extras: SamplerExtras = {}) {
    const o = compileSamplerOptions(options);
    this.seed = o.seed;
    this.count = o.count;
    this.batchSize = o.batchSize;
    this.syncEvery = o.syncEvery;
    this.globalBatch = o.globalBatch;
    this.currentEpoch = o.epoch;
    this.order = epochPermutation(o.seed, o.epoch, o.count);
    this.cursor = 0;
    this.pool = [];
    this.appliedCount = 0;
    this.nextRound = 0;
    this.ledger = extras.ledger;
  }

  /** Restores a sampler from `state()` output (e.g. read from a checkpoint); throws SamplerStateError if it is not one. */
  /** `expected.globalBatch`: the run's, for a state written before the sampler kept it. */
  static fromState(state: unknown, expected: { count?: number; globalBatch?: number } = {}, extras: SamplerExtras = {}): EpochSampler {
    const s = parseSamplerState(state, expected);
    const globalBatch = s.globalBatch ?? expected.globalBatch ?? null;
    const sampler = new EpochSampler(
      { seed: s.seed, count: s.count, batchSize: s.batchSize, syncEvery: s.syncEvery, globalBatch, epoch: s.epoch },
      extras,
    );
    sampler.cursor = s.cursor;
    sampler.pool = [...s.pool];
    sampler.appliedCount = s.applied;
    sampler.nextRound = s.nextRound;
    return sampler;
  }

  /** The state at the last commit point (an outstanding round counts as aborted, its id as used). */
  state(): SamplerState {
    return {
      format: 1,
      seed: this.seed,
      count: this.count,
      batchSize: this.batchSize,
      syncEvery: this.syncEvery,
      ...(this.globalBatch !== null ? { globalBatch: this.globalBatch } : {}),
      epoch: this.currentEpoch,
      cursor: this.cursor,
      pool: [...this.pool],
      applied: this.appliedCount,
      nextRound: this.nextRound,
    };
  }

  get epoch(): number {
    return this.currentEpoch;
  }

  /** Indices of the current epoch applied so far. */
  get applied(): number {
    return this.appliedCount;
  }

  /** Indices of the current epoch not applied yet (including an outstanding round's). */
  get remaining(): number {
    return this.count - this.appliedCount;
  }

  /**
   * Indices of the current epoch applied at the last commit point, in
   * permutation order: the first `cursor` of the permutation less the pool.
   * A restored sampler knows them from its state alone (the ledger of a
   * resumed coordinator starts from them).
   */
  appliedIndices(): number[] {
    const pooled = new Set(this.pool);
    const applied: number[] = [];
    for (let pos = 0; pos < this.cursor; pos++) {
      const index = this.order[pos]!;
      if (!pooled.has(index)) applied.push(index);
    }
    return applied;
  }

  /** Returned indices waiting to be served again. */
  get pooled(): number {
    return this.pool.length;
  }

  get epochDone(): boolean {
    return this.appliedCount === this.count;
  }

  /** Id of the planned, not yet committed or aborted round, or null. */
  get outstandingRound(): number | null {
    return this.outstanding?.plan.round ?? null;
  }

  /**
   * Plans the next round for `members` (sorted ascending, distinct, non-empty
   * ids). See the module note. `shares` (one positive weight per member)
   * sizes the shards in proportion instead of equally (round-plan.ts
   * layoutRound); the round takes the same indices either way.
   */
  planRound(members: readonly string[], shares?: readonly number[]): RoundPlan {
    if (this.outstanding) throw new RoundOutstandingError(this.outstanding.plan.round);
    checkMembers(members);
    if (shares && shares.length !== members.length) throw new RangeError(`${shares.length} shares for ${members.length} members`);
    if (this.epochDone) throw new EpochCompleteError(this.currentEpoch);

    const available = this.pool.length + (this.count - this.cursor);
    // The global batch cut among the members present: each member's batch grows as members leave (at most global / MIN).
    const global = this.globalBatch ?? members.length * this.batchSize;
    const memberBatch = Math.ceil(global / members.length);
    const take = Math.min(global * this.syncEvery, available);
    const fromPool = Math.min(this.pool.length, take);
    const fromOrder = take - fromPool;
    const sequence = this.pool.slice(0, fromPool);
    for (let pos = this.cursor; pos < this.cursor + fromOrder; pos++) sequence.push(this.order[pos]!);

    const assignments = layoutRound(sequence, members, memberBatch, shares, this.syncEvery);
    const plan: RoundPlan = Object.freeze({
      round: this.nextRound,
      epoch: this.currentEpoch,
      assignments: Object.freeze(assignments),
      waitFor: Object.freeze(assignments.filter((a) => a.samples > 0).map((a) => a.worker)),
      samples: take,
      fromPool,
      final: take === available,
    });
    // The id is spent even if the round is aborted: a late message for it must not match a later round.
    this.nextRound += 1;
    this.outstanding = { plan, fromOrder };
    return plan;
  }

  /**
   * Closes the outstanding round: applies the batches of `contributed`
   * members, returns the others' to the pool. Validates everything before
   * changing anything.
   */
  commit(plan: Pick<RoundPlan, 'round'>, contributed: Iterable<string>): CommitResult {
    const out = this.takeOutstanding(plan.round);
    const members = new Set(out.plan.assignments.map((a) => a.worker));
    const contributors = new Set(contributed);
    for (const worker of contributors) if (!members.has(worker)) throw new UnknownMemberError(worker, out.plan.round);

    const returned: number[] = [];
    const evicted: string[] = [];
    let applied = 0;
    for (const assignment of out.plan.assignments) {
      if (contributors.has(assignment.worker)) {
        applied += assignment.samples;
        for (const batch of assignment.batches) this.ledger?.record(out.plan.epoch, batch);
      } else if (assignment.samples > 0) {
        evicted.push(assignment.worker);
        for (const batch of assignment.batches) for (const index of batch) returned.push(index);
      }
    }
    const pool = this.pool.slice(out.plan.fromPool);
    for (const index of returned) pool.push(index);
    this.pool = pool;
    this.cursor += out.fromOrder;
    this.appliedCount += applied;
    this.outstanding = null;
    return { round: out.plan.round, epoch: out.plan.epoch, applied, returned: returned.length, evicted, epochDone: this.epochDone };
  }

  /** Drops the outstanding round as if it had never been planned (its id stays used). */
  abort(plan: Pick<RoundPlan, 'round'>): void {
    this.takeOutstanding(plan.round);
    this.outstanding = null;
  }

  /** Moves to the next epoch and its permutation; only once every index of this one was applied. Returns the new epoch. */
  nextEpoch(): number {
    if (!this.epochDone || this.outstanding) {
      throw new EpochIncompleteError(this.currentEpoch, this.appliedCount, this.count, this.outstandingRound);
    }
    this.currentEpoch += 1;
    this.order = epochPermutation(this.seed, this.currentEpoch, this.count);
    this.cursor = 0;
    this.pool = [];
    this.appliedCount = 0;
    return this.currentEpoch;
  }

  private takeOutstanding(round: number): Outstanding {
    const out = this.outstanding;
    if (!out || out.plan.round !== round) throw new UnknownRoundError(round, this.outstandingRound);
    return out;
  }
}

/** Sorted by JavaScript string order (UTF-16 code units, as `Array.prototype.sort()`), distinct, non-empty. */
function checkMembers(members: readonly string[]): void {
  if (members.length === 0) throw new MemberListError(members, 'empty', -1);
  members.forEach((id, i) => {
    if (typeof id !== 'string' || id.length === 0) throw new MemberListError(members, 'blank', i);
    const prev = members[i - 1];
    if (prev !== undefined && prev === id) throw new MemberListError(members, 'duplicate', i);
    if (prev !== undefined && prev > id) throw new MemberListError(members, 'unsorted', i);
  });
}
