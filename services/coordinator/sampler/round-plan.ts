/** One member's work in a round: its batches in training order. */
export interface MemberAssignment {
  readonly worker: string;
  /**
   * Up to `syncEvery` batches of at most `batchSize` indices each, consecutive
   * slices of the member's contiguous shard. Fewer or shorter only in an
   * epoch's last round; empty when nothing was left for this member.
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
 */
export function layoutRound(sequence: readonly number[], members: readonly string[], batchSize: number): MemberAssignment[] {
  const base = Math.floor(sequence.length / members.length);
  const extra = sequence.length % members.length;
  const assignments: MemberAssignment[] = [];
  let offset = 0;
  members.forEach((worker, i) => {
    const size = base + (i < extra ? 1 : 0);
    const batches: (readonly number[])[] = [];
    for (let start = 0; start < size; start += batchSize) {
      batches.push(Object.freeze(sequence.slice(offset + start, offset + Math.min(start + batchSize, size))));
    }
    offset += size;
    assignments.push(Object.freeze({ worker, batches: Object.freeze(batches), samples: size }));
  });
  return assignments;
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
