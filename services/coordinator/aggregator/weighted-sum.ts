import { FleetError } from '../../../src/runtime/errors.js';
import { scale, vectorMemoryOf, type VectorMemory } from '../../../src/compute/vector-math/index.js';
import { FigureSums } from './contribution-check.js';

/** A contribution the sum cannot take (wrong length, bad weight, not finite) or a staging call out of turn. */
export class WeightedSumError extends FleetError {
  constructor(
    message: string,
    readonly expectedLength: number,
    readonly gotLength: number,
  ) {
    super(message);
  }
}

/**
 * The round's sample-weighted average, accumulated in place: one buffer of
 * the model's size however many workers contribute, so the coordinator's
 * memory does not grow with the cluster; a second buffer takes the
 * contribution being received (stage). In `memory` (the coordinator's
 * VectorMemory, beside the receive scratch) the sums run in place as SIMD
 * kernels.
 */
export class WeightedSum {
  private sum: Float32Array;
  /** The staged contribution's sum (sum + weight * values so far); swapped in at commit. */
  private spare: Float32Array | null = null;
  private staging: StagedContribution | null = null;
  private totalWeight = 0;
  private count = 0;
  /** With the contribution check: each staged contribution's figures are summed as it arrives. */
  private figures = false;
  /** The float ranges the figures (and the clip) cover, sorted; null: all of them. */
  private judged: readonly FloatRange[] | null = null;

  constructor(
    readonly length: number,
    memory?: VectorMemory,
  ) {
    this.sum = memory ? memory.zeros(length) : new Float32Array(length);
    // Touch every page now: the coordinator's memory is taken at start, not in the first round.
    this.sum.fill(0);
    if (memory) this.spare = memory.zeros(length).fill(0);
  }

  /**
   * Opens a contribution that is summed as its chunks arrive (`accumulate`,
   * in order), into a second buffer: the sum itself changes only at
   * `commit`, so a contribution refused half-way (a bad chunk, a broken
   * stream, a stale round) leaves no trace, and no model-sized receive
   * buffer is needed. One at a time.
   */
  stage(weight: number): StagedContribution {
    checkWeight(weight, this.length, 0);
    if (this.staging) throw new WeightedSumError('a staged contribution is already open', this.length, 0);
    this.spare ??= new Float32Array(this.length);
    const figures = this.figures ? new FigureSums(this.count) : null;
    const staged = new StagedContribution(
      weight,
      this.length,
      (offset, values) => {
        // The round closed meanwhile (reset): the rest is read and dropped; the round's checks refuse it.
        if (this.staging !== staged) return -1;
        const end = offset + values.length;
        const at = vectorMemoryOf(this.spare!).accumulate(
          this.spare!.subarray(offset, end),
          this.sum.subarray(offset, end),
          values,
          weight,
        );
        if (at < 0 && figures) {
          const prior = this.count > 0 ? this.sum : null;
          if (!this.judged) figures.add(values, prior?.subarray(offset, end) ?? null, offset);
          else
            for (const r of this.judged) {
              const from = Math.max(r.offset, offset);
              const to = Math.min(r.offset + r.length, end);
              if (from < to) figures.add(values.subarray(from - offset, to - offset), prior?.subarray(from, to) ?? null, from);
            }
        }
        return at;
      },
      figures,
    );
    this.staging = staged;
    return staged;
  }

  /** Makes a complete staged contribution part of the sum. */
  commit(staged: StagedContribution): void {
    if (this.staging !== staged)
      throw new WeightedSumError('commit of a contribution that is not the open one', this.length, staged.filled);
    if (staged.filled !== this.length || staged.refused) {
      throw new WeightedSumError(
        `commit of an incomplete contribution (${staged.filled} of ${this.length} values${staged.refused ? ', refused' : ''})`,
        this.length,
        staged.filled,
      );
    }
    [this.sum, this.spare] = [this.spare!, this.sum];
    this.totalWeight += staged.weight;
    this.count += 1;
    this.staging = null;
  }

  /**
   * Takes the sum's one committed contribution out of it, and out of `staged`
   * (complete, not yet committed, which was summed onto it): the sum is empty
   * again and `staged` holds its own values alone, ready to commit or discard.
   */
  dropEarlier(staged: StagedContribution): void {
    if (this.staging !== staged || this.count !== 1 || staged.filled !== this.length)
      throw new WeightedSumError('dropEarlier needs one committed contribution and a complete staged one', this.length, staged.filled);
    const spare = this.spare!;
    for (let i = 0; i < spare.length; i++) spare[i] = spare[i]! - this.sum[i]!;
    this.sum.fill(0);
    this.totalWeight = 0;
    this.count = 0;
  }

  /**
   * Scales a complete staged contribution's own values by `factor` (its part
   * of the staged sum: staged = sum + factor x (staged - sum)); its weight
   * stays. The contribution check's clip, before commit.
   */
  scaleStaged(staged: StagedContribution, factor: number): void {
    if (this.staging !== staged || staged.filled !== this.length || staged.refused)
      throw new WeightedSumError('scaleStaged needs the open, complete staged contribution', this.length, staged.filled);
    if (!(factor >= 0) || !Number.isFinite(factor))
      throw new WeightedSumError(`scale factor must be finite and >= 0, got ${factor}`, this.length, staged.filled);
    const spare = this.spare!;
    const sum = this.sum;
    for (const r of this.judged ?? [{ offset: 0, length: spare.length }])
      for (let i = r.offset; i < r.offset + r.length; i++) spare[i] = sum[i]! + factor * (spare[i]! - sum[i]!);
  }

  /** Drops a staged contribution (a no-op once committed or dropped). */
  discard(staged: StagedContribution): void {
    if (this.staging === staged) this.staging = null;
  }

  /**
   * Stages a contribution whose values are all at hand (one `accumulate`),
   * ready to commit; throws, leaving nothing staged, if it is the wrong
   * length or not finite.
   */
  stageWhole(values: Float32Array, weight: number): StagedContribution {
    if (values.length !== this.length) {
      throw new WeightedSumError(`contribution has ${values.length} values, the model has ${this.length}`, this.length, values.length);
    }
    const staged = this.stage(weight);
    const at = staged.accumulate(values);
    if (at >= 0) {
      this.discard(staged);
      throw new WeightedSumError(`contribution value ${at} is not finite (${values[at]})`, this.length, values.length);
    }
    return staged;
  }

  /** Adds `values * weight` (weight = the contribution's sample count): stageWhole, then commit. */
  add(values: Float32Array, weight: number): void {
    this.commit(this.stageWhole(values, weight));
  }

  /**
   * From now on each staged contribution's figures (its norm, its cosine with the round's sum so far, its sketch)
   * are summed as it arrives, over `judged` (all floats when absent): the gradients' ranges. A contribution also
   * carries values that are not gradients (BatchNorm's running statistics, averaged as they are): positive and
   * alike in every worker, they would dominate the figures (the soak's cnn: a norm of 173 where its gradients'
   * is a fraction of it, and a sign-flipped contribution at cosine -0.9998), and a fault in the gradients alone
   * would not show.
   */
  trackFigures(judged?: readonly FloatRange[]): void {
    this.figures = true;
    if (judged) this.judged = mergedRanges(judged);
  }

  get contributions(): number {
    return this.count;
  }

  get weight(): number {
    return this.totalWeight;
  }

  /** Divides by the total weight in place and returns the average (a view; valid until reset). */
  average(): Float32Array {
    if (this.count === 0) throw new WeightedSumError('no contributions to average', this.length, 0);
    scale(this.sum, 1 / this.totalWeight);
    return this.sum;
  }

  reset(): void {
    // A contribution staged against the old sum cannot be committed into the new one.
    this.staging = null;
    this.sum.fill(0);
    this.totalWeight = 0;
    this.count = 0;
  }
}

/** A run of floats: a weight slice's place in the flat vector. */
export interface FloatRange {
  offset: number;
  length: number;
}

/** `ranges` sorted, the empty ones dropped, adjacent ones joined: a layout's many small slices make a few runs of floats. */
function mergedRanges(ranges: readonly FloatRange[]): FloatRange[] {
  const out: FloatRange[] = [];
  for (const r of [...ranges].filter((x) => x.length > 0).sort((a, b) => a.offset - b.offset)) {
    const last = out.at(-1);
    if (last && last.offset + last.length >= r.offset) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}

function checkWeight(weight: number, length: number, got: number): void {
  if (!(weight > 0) || !Number.isFinite(weight)) throw new WeightedSumError(`contribution weight must be > 0, got ${weight}`, length, got);
}

/**
 * A contribution being summed chunk by chunk (WeightedSum.stage). Chunks
 * come in order; each is scanned for NaN and Infinity in the same pass.
 */
export class StagedContribution {
  private filledValues = 0;
  private refusedAt = -1;

  constructor(
    readonly weight: number,
    readonly length: number,
    private readonly sumInto: (offset: number, values: Float32Array) => number,
    /** Its norm and cosine, summed chunk by chunk (WeightedSum.trackFigures); null when not tracked. */
    readonly figures: FigureSums | null = null,
  ) {}

  get filled(): number {
    return this.filledValues;
  }

  get refused(): boolean {
    return this.refusedAt >= 0;
  }

  /**
   * Sums the next values (they start at float `filled`). Returns the index,
   * in `values`, of the first NaN or +-Infinity among them, or -1; after
   * one the contribution is refused and takes nothing more.
   */
  accumulate(values: Float32Array): number {
    if (this.refusedAt >= 0)
      throw new WeightedSumError(`contribution refused at value ${this.refusedAt}: nothing more is summed`, this.length, this.filledValues);
    const end = this.filledValues + values.length;
    if (end > this.length) throw new WeightedSumError(`contribution has more than ${this.length} values`, this.length, end);
    const at = this.sumInto(this.filledValues, values);
    if (at >= 0) {
      this.refusedAt = this.filledValues + at;
      return at;
    }
    this.filledValues = end;
    return -1;
  }
}
