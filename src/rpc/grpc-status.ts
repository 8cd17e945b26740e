import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { OversizedTensorSetError, TensorSetError } from '../exchange/index.js';
import { StalledStreamError, TensorStreamClosedError, UploadDeadlineError } from './rpc-errors.js';

/** An error class and the status a call refused with it ends with. */
export type StatusRule = readonly [errorClass: abstract new (...args: never[]) => Error, code: Status];

/**
 * The statuses of the transport's own errors (the tensor-set format, the
 * streams). A service puts its own rules before these; the first class that
 * matches wins, so a subclass comes before its base class.
 */
export const TRANSPORT_STATUS: readonly StatusRule[] = [
  // Before TensorSetError, which it extends: too big is a limit, not a malformed set.
  [OversizedTensorSetError, Status.RESOURCE_EXHAUSTED],
  [TensorSetError, Status.INVALID_ARGUMENT],
  [TensorStreamClosedError, Status.CANCELLED],
  [StalledStreamError, Status.DEADLINE_EXCEEDED],
  [UploadDeadlineError, Status.DEADLINE_EXCEEDED],
];

/** The status of `err` under `rules`; anything unlisted is a bug on the server's side: INTERNAL. */
export function toGrpcStatus(err: unknown, rules: readonly StatusRule[] = TRANSPORT_STATUS): Status {
  for (const [errorClass, code] of rules) if (err instanceof errorClass) return code;
  return Status.INTERNAL;
}

/** Trailing-metadata key naming the error class, so a client can tell refusals of one code apart (classify). */
export const ERROR_CLASS_KEY = 'fleet-error';
/** Trailing-metadata key naming the refused tensor, when there is one. */
export const ERROR_TENSOR_KEY = 'fleet-tensor';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * The status a handler passes to its callback (or emits as 'error' on a
 * server stream) for `err`: the code from `rules`, the message, and the
 * error's class (and tensor) in trailing metadata.
 */
export function toServiceError(
  err: unknown,
  rules: readonly StatusRule[] = TRANSPORT_STATUS,
): Partial<ServiceError> & { code: Status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  if (err instanceof Error) metadata.set(ERROR_CLASS_KEY, err.name);
  if (err instanceof TensorSetError && err.tensor !== null && PRINTABLE_ASCII.test(err.tensor)) metadata.set(ERROR_TENSOR_KEY, err.tensor);
  return { code: toGrpcStatus(err, rules), details: err instanceof Error ? err.message : String(err), metadata };
}
