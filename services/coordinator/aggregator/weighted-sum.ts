import { FleetError } from '../../../runtime/errors.js';
import { axpy, scale, type VectorMemory } from '../../../vector-math/index.js';

export class AggregateError extends FleetError {
  constructor(message: string, readonly expectedLength: number, readonly gotLength: number) {
    super(message);
  }
}

/**
 * The round's sample-weighted average, accumulated in place: one buffer of
 * the model's size however many workers contribute, so the coordinator's
 * memory does not grow with the cluster. In `memory` (the coordinator's
 * VectorMemory, where the received contributions are too) the sums run in
 * place as SIMD kernels.
 */
export class WeightedSum {
  private readonly sum: Float32Array;
  private totalWeight = 0;
  private count = 0;

  constructor(readonly length: number, memory?: VectorMemory) {
    this.sum = memory ? memory.zeros(length) : new Float32Array(length);
    // Touch every page now: the coordinator's memory is taken at start, not in the first round.
    this.sum.fill(0);
  }

  /** Adds `values * weight` (weight = the contribution's sample count). */
  add(values: Float32Array, weight: number): void {
    if (values.length !== this.length) {
      throw new AggregateError(`contribution has ${values.length} values, the model has ${this.length}`, this.length, values.length);
    }
    if (!(weight > 0) || !Number.isFinite(weight)) throw new AggregateError(`contribution weight must be > 0, got ${weight}`, this.length, values.length);
    axpy(this.sum, values, weight);
    this.totalWeight += weight;
    this.count += 1;
  }

  get contributions(): number {
    return this.count;
  }

  get weight(): number {
    return this.totalWeight;
  }

  /** Divides by the total weight in place and returns the average (a view; valid until reset). */
  average(): Float32Array {
    if (this.count === 0) throw new AggregateError('no contributions to average', this.length, 0);
    scale(this.sum, 1 / this.totalWeight);
    return this.sum;
  }

  reset(): void {
    this.sum.fill(0);
    this.totalWeight = 0;
    this.count = 0;
  }
}
