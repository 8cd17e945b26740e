import { AppliedCountError, LedgerIndexError } from './errors.js';

/** How an epoch's applications look: exactly once everywhere when `ok`. Lists are capped at `LIST_CAP`. */
export interface LedgerReport {
  readonly epoch: number;
  readonly ok: boolean;
  readonly missing: readonly number[];
  readonly missingCount: number;
  readonly repeated: readonly number[];
  readonly repeatedCount: number;
}

const LIST_CAP = 10;

/**
 * How many times each index was applied, per epoch: one byte per index
 * (saturating at 255), so 50,000 samples cost 50 kB an epoch. A debug and
 * test aid, not part of the sampler's state: the sampler's invariants do not
 * depend on it, and it is not restored from a checkpoint.
 */
export class AppliedLedger {
  private readonly byEpoch = new Map<number, Uint8Array>();

  constructor(readonly count: number) {}

  record(epoch: number, indices: ArrayLike<number>): void {
    const counts = this.countsFor(epoch, indices);
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i]!;
      if (counts[index]! < 255) counts[index]! += 1;
    }
  }

  /** Times `index` was applied in `epoch` (0 for an epoch never recorded). */
  timesApplied(epoch: number, index: number): number {
    return this.byEpoch.get(epoch)?.[index] ?? 0;
  }

  /** A copy of the epoch's counts (all zero for an epoch never recorded). */
  counts(epoch: number): Uint8Array {
    return new Uint8Array(this.byEpoch.get(epoch) ?? new Uint8Array(this.count));
  }

  /** Epochs with at least one record, ascending. */
  epochs(): number[] {
    return [...this.byEpoch.keys()].sort((a, b) => a - b);
  }

  report(epoch: number): LedgerReport {
    const counts = this.byEpoch.get(epoch) ?? new Uint8Array(this.count);
    const missing: number[] = [];
    const repeated: number[] = [];
    let missingCount = 0;
    let repeatedCount = 0;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c === 0 && missingCount++ < LIST_CAP) missing.push(i);
      if (c > 1 && repeatedCount++ < LIST_CAP) repeated.push(i);
    }
    return { epoch, ok: missingCount === 0 && repeatedCount === 0, missing, missingCount, repeated, repeatedCount };
  }

  /** Throws AppliedCountError unless every index was applied exactly once in `epoch`. */
  assertExactlyOnce(epoch: number): void {
    const r = this.report(epoch);
    if (!r.ok) throw new AppliedCountError(epoch, r.missing, r.missingCount, r.repeated, r.repeatedCount);
  }

  /** Drops an epoch's counts (a long run keeps only the epochs it still checks). */
  forget(epoch: number): void {
    this.byEpoch.delete(epoch);
  }

  private countsFor(epoch: number, indices: ArrayLike<number>): Uint8Array {
    if (!Number.isInteger(epoch) || epoch < 1) throw new LedgerIndexError(epoch, indices[0] ?? 0, this.count);
    // Validate the whole batch first, so a bad record changes nothing.
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i]!;
      if (!Number.isInteger(index) || index < 0 || index >= this.count) {
        throw new LedgerIndexError(epoch, index, this.count);
      }
    }
    let counts = this.byEpoch.get(epoch);
    if (!counts) {
      counts = new Uint8Array(this.count);
      this.byEpoch.set(epoch, counts);
    }
    return counts;
  }
}
