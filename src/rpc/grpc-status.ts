import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { OversizedTensorSetError, TensorSetError } from '../exchange/index.js';
import { AggregateError } from '../../services/coordinator/aggregator/weighted-sum.js';
import {
  CoordinatorClosedError, NotAMemberError, StaleContributionError, UnknownWorkerError, VersionUnavailableError,
} from '../../services/coordinator/rounds/errors.js';
import { InvalidTokenError, RoundClosedError, StalledStreamError, TensorStreamClosedError } from './rpc-errors.js';

// Moved to channel-options.ts; re-exported for the services that import them from here.
export { CHANNEL_OPTIONS, FLOW_CONTROL_WINDOW_BYTES } from './channel-options.js';

/**
 * The one place where fleet's errors become gRPC status codes. Anything not
 * listed is a bug on the server's side: INTERNAL.
 */
export function toGrpcStatus(err: unknown): Status {
  if (err instanceof UnknownWorkerError) return Status.NOT_FOUND;
  if (err instanceof StaleContributionError || err instanceof NotAMemberError || err instanceof VersionUnavailableError) return Status.FAILED_PRECONDITION;
  // Before TensorSetError, which it extends: too big is a limit, not a malformed set.
  if (err instanceof OversizedTensorSetError) return Status.RESOURCE_EXHAUSTED;
  if (err instanceof TensorSetError || err instanceof AggregateError) return Status.INVALID_ARGUMENT;
  if (err instanceof RoundClosedError) return Status.ABORTED;
  if (err instanceof InvalidTokenError) return Status.UNAUTHENTICATED;
  if (err instanceof TensorStreamClosedError) return Status.CANCELLED;
  if (err instanceof StalledStreamError) return Status.DEADLINE_EXCEEDED;
  if (err instanceof CoordinatorClosedError) return Status.UNAVAILABLE;
  return Status.INTERNAL;
}

/** @deprecated the earlier name of toGrpcStatus. */
export const statusOf = toGrpcStatus;

/** Trailing-metadata key naming the error class, so a client can tell refusals of one code apart. */
export const ERROR_CLASS_KEY = 'fleet-error';
/** Trailing-metadata key naming the refused tensor, when there is one. */
export const ERROR_TENSOR_KEY = 'fleet-tensor';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The status a handler passes to its callback (or emits as 'error' on a server stream) for `err`. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: Status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  if (err instanceof Error) metadata.set(ERROR_CLASS_KEY, err.name);
  if (err instanceof TensorSetError && err.tensor !== null && PRINTABLE_ASCII.test(err.tensor)) metadata.set(ERROR_TENSOR_KEY, err.tensor);
  return { code: toGrpcStatus(err), details: err instanceof Error ? err.message : String(err), metadata };
}
