import { peakLearningRate, type TrainConfig, type TrainPlan } from '../../../src/runtime/config/train-config.js';
import { learningRateAt } from '../../../src/training/lr-schedule.js';
import type { ParameterStore } from '../parameters/parameter-store.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { applySgd } from './sgd-update.js';

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
    const schedule = {
      baseLr: peakLearningRate(this.config),
      minLr: this.config.minLr,
      warmupSteps: this.plan.warmupSteps,
      totalSteps: this.plan.totalSteps,
    };
    return Array.from({ length: count }, (_, k) => learningRateAt(globalStep + k, schedule));
  }

  /** Writes the next master version from the round's sample-weighted average; returns it. */
  apply(store: ParameterStore, averaged: Float32Array, lr: number): number {
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
}
