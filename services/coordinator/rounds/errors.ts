import { FleetError } from '../../../src/runtime/errors.js';

/** A message from a worker the coordinator does not know (never registered, or evicted). */
export class UnknownWorkerError extends FleetError {
  constructor(readonly worker: string) {
    super(`unknown worker ${worker}: register (again) first`);
  }
}

/** A contribution for a round that is not the open one, or from the wrong version. */
export class StaleContributionError extends FleetError {
  constructor(
    readonly worker: string,
    readonly round: number,
    readonly openRound: number | null,
    readonly detail: string,
  ) {
    super(`contribution of worker ${worker} for round ${round} refused: ${detail} (open round: ${openRound ?? 'none'})`);
  }
}

/** The worker is not a member of the open round, or its contribution does not fit the round. */
export class NotAMemberError extends FleetError {
  constructor(
    readonly worker: string,
    readonly round: number,
    readonly detail: string,
  ) {
    super(`worker ${worker} cannot contribute to round ${round}: ${detail}`);
  }
}

/** A second copy of a contribution the open round already holds: a retry after its answer was lost. */
export class AlreadyContributedError extends NotAMemberError {
  constructor(worker: string, round: number) {
    super(worker, round, 'already contributed');
  }
}

/** A worker name quarantined for garbage contributions (the contribution check) registers again: refused for the rest of the run. */
export class QuarantinedWorkerError extends FleetError {
  constructor(readonly workerName: string) {
    super(
      `worker name ${workerName} is quarantined for the rest of this run: its contributions were refused repeatedly by the contribution check (see the coordinator's worker.quarantined event); check the host's hardware`,
    );
  }
}

/** Asked for a parameter version the coordinator no longer (or not yet) holds. */
export class VersionUnavailableError extends FleetError {
  constructor(
    readonly version: number,
    readonly current: number,
    readonly retained: readonly number[] = [],
  ) {
    super(
      `parameter version ${version} is not available (current: ${current}${retained.length ? `; also kept: ${retained.join(', ')}` : ''})`,
    );
  }
}

/** The coordinator is shutting down or the run is over. */
export class CoordinatorClosedError extends FleetError {}

/** A registration while the run has its --workers MAX members: the worker retries with backoff (a spare takes a place that frees). */
export class RunFullError extends FleetError {
  constructor(
    readonly max: number,
    readonly worker: string,
  ) {
    super(`run is full: ${max} workers`);
  }
}
