/**
 * The error classes fleet.v1.Coordinator refuses calls with, as its clients
 * read them (classify().errorClass). The coordinator's own classes
 * (services/coordinator/rounds/errors.ts) carry these names; a unit test
 * holds the two equal.
 */
export const CoordinatorRefusal = {
  /** The worker is not registered (never, or evicted): register again. */
  UnknownWorker: 'UnknownWorkerError',
  /** A contribution for a round that is not the open one, or from the wrong version. */
  StaleContribution: 'StaleContributionError',
  /** The worker is not a member of the open round, or its contribution does not fit it. */
  NotAMember: 'NotAMemberError',
  /** A second copy of an accepted contribution (a retry after a lost answer). */
  AlreadyContributed: 'AlreadyContributedError',
  /** A parameter version the coordinator does not hold (pruned, or not yet made). */
  VersionUnavailable: 'VersionUnavailableError',
  /** The worker asked for a run (--run-id) that is not the coordinator's. */
  RunMismatch: 'RunMismatchError',
  /** The coordinator is shutting down or the run is over. */
  CoordinatorClosed: 'CoordinatorClosedError',
  /** The run has its --workers MAX members: retry with backoff (a place frees when a member leaves or is evicted). */
  RunFull: 'RunFullError',
} as const;

export type CoordinatorRefusal = (typeof CoordinatorRefusal)[keyof typeof CoordinatorRefusal];
