import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { OversizedTensorSetError, TensorSetError } from '../exchange/tensor-wire.js';
import { AggregateError } from '../services/coordinator/aggregator/weighted-sum.js';
import {
  CoordinatorClosedError, NotAMemberError, StaleContributionError, UnknownWorkerError, VersionUnavailableError,
} from '../services/coordinator/rounds/errors.js';

/** The one place where fleet's errors become gRPC status codes. */
export function statusOf(err: unknown): Status {
  if (err instanceof UnknownWorkerError) return Status.NOT_FOUND;
  if (err instanceof StaleContributionError || err instanceof NotAMemberError || err instanceof VersionUnavailableError) return Status.FAILED_PRECONDITION;
  if (err instanceof TensorSetError || err instanceof AggregateError) return Status.INVALID_ARGUMENT;
  if (err instanceof OversizedTensorSetError) return Status.RESOURCE_EXHAUSTED;
  if (err instanceof CoordinatorClosedError) return Status.UNAVAILABLE;
  return Status.INTERNAL;
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  return { code: statusOf(err), details: err instanceof Error ? err.message : String(err), metadata: new Metadata() };
}

export const FLOW_CONTROL_WINDOW_BYTES = 32 * 1024 * 1024;

/**
 * Size and flow-control options both sides use. No HTTP/2 keepalive pings:
 * a worker's event loop is busy for a whole training step (seconds to
 * minutes on WASM) and cannot answer a ping in time, and a missed ping
 * closes the connection; liveness is the heartbeat's job (the coordinator's
 * --heartbeat-timeout), and a dead peer's TCP connection fails on the next call.
 */
export const CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.max_send_message_length': 8 * 1024 * 1024,
  // HTTP/2's default 64 KiB receive window stalls 45 MB transfers on
  // WINDOW_UPDATE round trips; a large window lets a tensor set stream.
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
} as const;
