import { FleetError } from '../runtime/errors.js';

/** The loss is no longer finite: the run cannot recover by itself. */
export class TrainingDivergedError extends FleetError {
  /** `step` is the step (one process) or the round (a worker). */
  constructor(
    readonly epoch: number,
    readonly step: number,
    readonly loss: number,
  ) {
    super(`training diverged at epoch ${epoch}, step ${step}: loss is ${loss}; lower --lr or raise --warmup-epochs`);
  }
}

/** A signal stopped training before the planned end (the CLI exits with the signal's code). */
export class InterruptedError extends FleetError {
  constructor(readonly signal: string) {
    super(`training interrupted by ${signal}`);
  }
}
