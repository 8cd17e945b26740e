import { FleetError } from '../runtime/errors.js';

/**
 * The peer went away while a tensor set was being written (cancelled call,
 * closed stream): CANCELLED. `sentBytes` counts data handed to gRPC.
 */
export class TensorStreamClosedError extends FleetError {
  constructor(
    readonly sentBytes: number,
    readonly totalBytes: number,
    options?: { cause?: unknown },
  ) {
    super(`the stream closed after ${sentBytes} of ${totalBytes} bytes`, options);
  }
}

/**
 * A request stream that delivered no message for `idleMs` (a peer hung or
 * stopped mid-upload): refused with DEADLINE_EXCEEDED, so what it held
 * (the coordinator's contribution slot) is freed for the others.
 */
export class StalledStreamError extends FleetError {
  constructor(
    readonly idleMs: number,
    readonly messagesReceived: number,
  ) {
    super(`the stream sent nothing for ${idleMs} ms (after ${messagesReceived} messages)`);
  }
}

/**
 * A contribution whose data did not all arrive within `uploadMs` of its
 * header being accepted (a sender trickling just fast enough to escape the
 * idle limit): refused with DEADLINE_EXCEEDED and its staging freed, so it
 * cannot hold the coordinator's one contribution slot for long.
 */
export class UploadDeadlineError extends FleetError {
  constructor(
    readonly uploadMs: number,
    readonly messagesReceived: number,
  ) {
    super(`the upload did not finish within ${uploadMs} ms of its header (after ${messagesReceived} messages)`);
  }
}
