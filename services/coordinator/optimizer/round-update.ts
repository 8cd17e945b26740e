import { peakLearningRate, type TrainConfig, type TrainPlan } from '../../../src/runtime/config/train-config.js';
import { phasedLearningRate } from '../../../src/training/trainable-set.js';
import type { ParameterStore } from '../parameters/parameter-store.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { applySgd } from './sgd-update.js';
import { originOf } from '../../../src/exchange/shard-assignment.js';

export type UpdateKind = 'gradients' | 'parameters';

/**
 * How a round's average becomes the next master version: through SGD with
 * momentum for gradients (--sync-every 1), as it is for parameters (local
 * SGD); non-trainable slices (BatchNorm statistics) are averaged either way.
 * Also the learning rate of every step, from the run's schedule.
 */
export class RoundUpdate {
  readonly kind: UpdateKind;
  private steps: number;

  constructor(
    private readonly config: TrainConfig,
    private readonly plan: TrainPlan,
    private readonly layout: readonly WeightSlice[],
    /** Optimizer steps already taken (a resumed run's momentum is live). */
    optimizerSteps = 0,
  ) {
    this.kind = config.syncEvery === 1 ? 'gradients' : 'parameters';
    this.steps = optimizerSteps;
  }

  get optimizerSteps(): number {
    return this.steps;
  }

  /** The learning rates of `count` consecutive steps from `globalStep` (a round's local steps). */
  learningRates(globalStep: number, count: number): number[] {
    const c = this.config;
    const schedule = {
      peakLr: peakLearningRate(c),
      fineTuneLr: c.fineTuneLr === null ? null : peakLearningRate({ ...c, lr: c.fineTuneLr }),
      minLr: c.minLr,
      warmupSteps: this.plan.warmupSteps,
      totalSteps: this.plan.totalSteps,
      stepsPerEpoch: this.plan.stepsPerEpoch,
      freezeEpochs: c.freezeEpochs,
    };
    return Array.from({ length: count }, (_, k) => phasedLearningRate(globalStep + k, schedule));
  }

  /**
   * Writes the next master version from the round's sample-weighted average; returns it.
   * `slices`: what the average holds, packed (a frozen phase's subset); the rest of the master stays as it is.
   */
  apply(store: ParameterStore, averaged: Float32Array, lr: number, slices: readonly WeightSlice[] = this.layout): number {
    // A subset: a frozen phase's, or a shard's (--shards), which may have as many pieces as the model has tensors.
    const whole =
      slices === this.layout || (slices.length === this.layout.length && slices.every((s, i) => s.name === this.layout[i]!.name));
    if (!whole) return this.applySubset(store, averaged, lr, slices);
    return store.update((params, momentum) => {
      if (this.kind === 'parameters') {
        params.set(averaged);
        return;
      }
      const hyper = { lr, momentum: this.config.momentum, weightDecay: this.config.weightDecay };
      applySgd(params, momentum, averaged, this.layout, hyper, this.steps === 0);
      this.steps++;
    });
  }

  /** The SGD step over a subset (a frozen phase's, or this coordinator's shard): each packed slice onto its place in the master copy. */
  private applySubset(store: ParameterStore, averaged: Float32Array, lr: number, slices: readonly WeightSlice[]): number {
    const at = new Map(this.layout.map((s) => [s.name, s.offset]));
    return store.update((params, momentum) => {
      if (this.kind === 'parameters') {
        // A shard's slices (--shards) with --sync-every > 1: the average is the new value, as for the whole model.
        for (const slice of slices) params.set(averaged.subarray(slice.offset, slice.offset + slice.length), originOf(slice, at));
        return;
      }
      const hyper = { lr, momentum: this.config.momentum, weightDecay: this.config.weightDecay };
      for (const slice of slices) {
        const offset = originOf(slice, at);
        const region = { ...slice, offset: 0 };
        applySgd(
          params.subarray(offset, offset + slice.length),
          momentum.subarray(offset, offset + slice.length),
          averaged.subarray(slice.offset, slice.offset + slice.length),
          [region],
          hyper,
          this.steps === 0,
        );
      }
      this.steps++;
    });
  }
}
