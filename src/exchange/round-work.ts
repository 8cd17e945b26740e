/** A member's work in one round, as the coordinator hands it out and the worker trains it. */
export interface RoundWork {
  round: number;
  epoch: number;
  /** Parameters the round starts from. */
  version: number;
  /** Optimizer step at the round's start: keys Mixup/CutMix and dropout. */
  globalStep: number;
  /** This worker's position among the round's members: keys its dropout stream. */
  memberIndex: number;
  /** One per local step: training-set indices in order, and the step's learning rate. */
  batches: { indices: readonly number[]; lr: number }[];
}
