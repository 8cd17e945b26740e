import { evenSizes } from '../../../src/runtime/even-split.js';

/** One member's work in a round: its batches in training order. */
export interface MemberAssignment {
  readonly worker: string;
  /**
   * Up to `syncEvery` batches of at most `batchSize` indices each, consecutive
   * slices of the member's contiguous shard. Fewer or shorter only in an
   * epoch's last round; empty when nothing was left for this member. With
   * balanced shares (--balance speed) a batch holds up to 2 * batchSize.
   */
  readonly batches: readonly (readonly number[])[];
  /** Indices in all batches: the member's weight when its contribution is averaged. */
  readonly samples: number;
}

/** What every member trains in one round. Frozen: the sampler keeps it until commit or abort. */
export interface RoundPlan {
  /** Round id, increasing over the whole run (never reused, even for an aborted round). */
  readonly round: number;
  /** The epoch every index of this round belongs to. */
  readonly epoch: number;
  /** One entry per member, in the (sorted) member order given to planRound. */
  readonly assignments: readonly MemberAssignment[];
  /** Members with at least one batch: the ones the round waits for. */
  readonly waitFor: readonly string[];
  /** Indices in the round. */
  readonly samples: number;
  /** How many of them came from the pool of returned indices (they come first). */
  readonly fromPool: number;
  /** The round takes every index the epoch has left: if all of waitFor contribute, the epoch is done. */
  readonly final: boolean;
}

/**
 * Cuts the round's index sequence into member shards and batches. Member i
 * gets the i-th contiguous slice; slice sizes differ by at most one (the first
 * `length % members` members get the extra index), and a shard is cut into
 * batches of `batchSize` with the last one shorter. With a full sequence
 * (members * syncEvery * batchSize) every shard is exactly syncEvery full
 * batches. The caller guarantees the sequence is no longer than that, so no
 * batch exceeds batchSize and no member gets more than syncEvery batches.
 *
 * With `shares` (one positive weight per member: --balance speed), slice i
 * is proportional to shares[i] instead, at most twice the equal slice
 * (MAX_SHARD_FACTOR), and is cut into syncEvery batches as equal as possible.
 * Still contiguous and in member order: the concatenation, and so a
 * sample-weighted average, is the same as with equal slices.
 */
export function layoutRound(
  sequence: readonly number[],
  members: readonly string[],
  batchSize: number,
  shares?: readonly number[],
  syncEvery = 1,
): MemberAssignment[] {
  const sizes = shares
    ? proportionalSizes(sequence.length, shares, MAX_SHARD_FACTOR * syncEvery * batchSize)
    : evenSizes(sequence.length, members.length);
  const assignments: MemberAssignment[] = [];
  let offset = 0;
  members.forEach((worker, i) => {
    const size = sizes[i]!;
    const batches: (readonly number[])[] = [];
    for (const n of shares ? evenSizes(size, Math.min(syncEvery, size)) : batchesOf(size, batchSize)) {
      batches.push(Object.freeze(sequence.slice(offset, offset + n)));
      offset += n;
    }
    assignments.push(Object.freeze({ worker, batches: Object.freeze(batches), samples: size }));
  });
  return assignments;
}

/** A balanced shard is at most this many times the equal one: a fast member's batch stays within memory. */
export const MAX_SHARD_FACTOR = 2;

/**
 * Sizes proportional to `shares` that sum to `length`, none above `cap`
 * (members capped first, the rest shared among the others); rounding by
 * largest remainder, ties to the earlier member.
 */
export function proportionalSizes(length: number, shares: readonly number[], cap: number): number[] {
  if (shares.length === 0 || shares.some((s) => !(s > 0) || !Number.isFinite(s))) {
    throw new RangeError(`shares must be positive and finite, got [${shares.join(', ')}]`);
  }
  const sizes = new Array<number>(shares.length).fill(0);
  const capped = new Set<number>();
  let left = length;
  // Water-filling: cap whoever would exceed it, then share the rest again.
  for (;;) {
    const open = shares.map((_, i) => i).filter((i) => !capped.has(i));
    const weight = open.reduce((w, i) => w + shares[i]!, 0);
    const over = open.filter((i) => (left * shares[i]!) / weight > cap);
    if (over.length === 0 || over.length === open.length) {
      const ideal = open.map((i) => Math.min(cap, (left * shares[i]!) / weight));
      open.forEach((i, k) => {
        sizes[i] = Math.floor(ideal[k]!);
      });
      let rest = left - open.reduce((n, i) => n + sizes[i]!, 0);
      const byRemainder = open.map((i, k) => ({ i, r: ideal[k]! - sizes[i]! })).sort((a, b) => b.r - a.r || a.i - b.i);
      for (const { i } of byRemainder) {
        if (rest === 0) break;
        sizes[i]! += 1;
        rest--;
      }
      return sizes;
    }
    for (const i of over) {
      capped.add(i);
      sizes[i] = cap;
      left -= cap;
    }
  }
}

/** Sizes of consecutive batches of `batchSize` covering `size`, the last one shorter. */
function batchesOf(size: number, batchSize: number): number[] {
  const sizes: number[] = [];
  for (let start = 0; start < size; start += batchSize) sizes.push(Math.min(batchSize, size - start));
  return sizes;
}

/** Every index of the plan in member order, then batch order (what one big worker would see). */
export function planIndices(plan: RoundPlan): number[] {
  const out: number[] = [];
  for (const assignment of plan.assignments) for (const batch of assignment.batches) for (const index of batch) out.push(index);
  return out;
}

/** The i-th local step of every member, concatenated in member order (for K > 1: the samples trained at step i). */
export function stepIndices(plan: RoundPlan, step: number): number[] {
  const out: number[] = [];
  for (const assignment of plan.assignments) for (const index of assignment.batches[step] ?? []) out.push(index);
  return out;
}
