import { Metadata, status as Status } from '@grpc/grpc-js';
import { ERROR_CLASS_KEY, ERROR_TENSOR_KEY } from './grpc-status.js';

/** How a gRPC call failed, as the server said it. */
export interface CallFailure {
  readonly code: Status;
  /**
   * The class of the error the server refused the call with (toServiceError
   * puts it in trailing metadata); null when no handler named one: the
   * connection failed, the deadline passed, an interceptor refused the call.
   */
  readonly errorClass: string | null;
  /** The refused tensor, when the refusal named one. */
  readonly tensor: string | null;
}

const STATUS_CODES = new Set<unknown>(Object.values(Status).filter((v) => typeof v === 'number'));

function firstString(metadata: Metadata, key: string): string | null {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : null;
}

/**
 * The failure of a gRPC call (a grpc-js ServiceError: a status code and the
 * trailing metadata), or null when `err` is not one (a local error, such
 * as a tensor set that failed its checks on arrival). Clients act on the
 * code and the error class, never on the message.
 */
export function classify(err: unknown): CallFailure | null {
  if (typeof err !== 'object' || err === null) return null;
  const { code, metadata } = err as { code?: unknown; metadata?: unknown };
  if (!STATUS_CODES.has(code) || !(metadata instanceof Metadata)) return null;
  return { code: code as Status, errorClass: firstString(metadata, ERROR_CLASS_KEY), tensor: firstString(metadata, ERROR_TENSOR_KEY) };
}

/** The server could not be reached or did not answer in time (restarting, paused, cut off): worth retrying. */
export function isUnavailable(err: unknown): boolean {
  const code = classify(err)?.code;
  return code === Status.UNAVAILABLE || code === Status.DEADLINE_EXCEEDED;
}
