import { status as Status } from '@grpc/grpc-js';
import { TRANSPORT_STATUS, type StatusRule } from '../../../src/rpc/grpc-status.js';
import { WeightedSumError } from '../aggregator/weighted-sum.js';
import {
  CoordinatorClosedError,
  NotAMemberError,
  RunFullError,
  QuarantinedWorkerError,
  StaleContributionError,
  UnknownWorkerError,
  VersionUnavailableError,
} from '../rounds/errors.js';

/**
 * The status of each coordinator refusal, then the transport's. Anything
 * unlisted is a bug on the coordinator's side: INTERNAL.
 */
export const COORDINATOR_STATUS: readonly StatusRule[] = [
  [UnknownWorkerError, Status.NOT_FOUND],
  [QuarantinedWorkerError, Status.PERMISSION_DENIED],
  // AlreadyContributedError is a NotAMemberError: the same code, told apart by its class.
  [StaleContributionError, Status.FAILED_PRECONDITION],
  [NotAMemberError, Status.FAILED_PRECONDITION],
  [VersionUnavailableError, Status.FAILED_PRECONDITION],
  [WeightedSumError, Status.INVALID_ARGUMENT],
  [CoordinatorClosedError, Status.UNAVAILABLE],
  [RunFullError, Status.RESOURCE_EXHAUSTED],
  ...TRANSPORT_STATUS,
];
