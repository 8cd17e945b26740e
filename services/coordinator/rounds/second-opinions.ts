import type { CheckVerdict } from '../aggregator/contribution-check.js';

/** A contribution check refusal not counted yet: its batches go to other members first. */
export interface PendingRefusal {
  readonly worker: string;
  readonly name: string;
  readonly round: number;
  readonly epoch: number;
  /** The refusal as judged (secondOpinion 'pending'). */
  readonly verdict: CheckVerdict;
  /** The refused shard's indices that no other member's accepted contribution has applied yet. */
  readonly remaining: Set<number>;
}

/**
 * The refusals waiting for a second opinion, one per member at most: a member
 * with one sits out the rounds (RoundRunner leaves it out of their plans), so
 * the pool's batches, its refused ones first, go to the others, and it cannot
 * be refused again meanwhile. A refusal is confirmed once every index of its
 * shard was applied by other members (their contributions on those batches
 * accepted).
 */
export class SecondOpinions {
  private readonly pending = new Map<string, PendingRefusal>();

  add(p: PendingRefusal): void {
    if (this.pending.has(p.worker)) throw new Error(`member ${p.worker} already has a refusal waiting for a second opinion`);
    this.pending.set(p.worker, p);
  }

  /** Members that sit out: their refusal waits for another member's opinion. */
  sitsOut(worker: string): boolean {
    return this.pending.has(worker);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Drops `worker`'s pending refusal (not recorded) and returns it. */
  take(worker: string): PendingRefusal | undefined {
    const p = this.pending.get(worker);
    this.pending.delete(worker);
    return p;
  }

  /** Other members' pending refusals of `epoch` whose shards share indices with `indices` (a contribution on their batches). */
  heldBy(worker: string, epoch: number, indices: readonly number[]): PendingRefusal[] {
    const held: PendingRefusal[] = [];
    for (const p of this.pending.values()) {
      if (p.worker === worker || p.epoch !== epoch) continue;
      if (indices.some((i) => p.remaining.has(i))) held.push(p);
    }
    return held;
  }

  /**
   * `indices` of `epoch` were applied (a commit's accepted contributions):
   * returns the pending refusals with none left, taken out (confirmed).
   */
  applied(epoch: number, indices: Iterable<number>): PendingRefusal[] {
    const of = [...this.pending.values()].filter((p) => p.epoch === epoch);
    if (of.length === 0) return [];
    for (const i of indices) for (const p of of) p.remaining.delete(i);
    const confirmed = of.filter((p) => p.remaining.size === 0);
    for (const p of confirmed) this.pending.delete(p.worker);
    return confirmed;
  }
}
