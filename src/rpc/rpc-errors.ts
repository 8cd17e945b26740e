import { FleetError } from '../runtime/errors.js';

/** A contribution or call for a round that has already closed (its average is taken): ABORTED, the worker moves on. */
export class RoundClosedError extends FleetError {
  constructor(readonly round: number, readonly worker: string | null = null) {
    super(`round ${round} is closed${worker === null ? '' : ` (worker ${worker})`}`);
  }
}

/** A missing or wrong bearer token: UNAUTHENTICATED. `reason` never contains the token. */
export class InvalidTokenError extends FleetError {
  constructor(readonly reason: 'missing' | 'invalid' | 'expired', readonly worker: string | null = null) {
    super(`${reason} token${worker === null ? '' : ` from worker ${worker}`}`);
  }
}

/**
 * The peer went away while a tensor set was being written (cancelled call,
 * closed stream): CANCELLED. `sentBytes` counts data handed to gRPC.
 */
export class TensorStreamClosedError extends FleetError {
  constructor(readonly sentBytes: number, readonly totalBytes: number, options?: { cause?: unknown }) {
    super(`the stream closed after ${sentBytes} of ${totalBytes} bytes`, options);
  }
}

/**
 * A request stream that delivered no message for `idleMs` (a peer hung or
 * stopped mid-upload): refused with DEADLINE_EXCEEDED, so what it held
 * (the coordinator's contribution slot) is freed for the others.
 */
export class StalledStreamError extends FleetError {
  constructor(readonly idleMs: number, readonly messagesReceived: number) {
    super(`the stream sent nothing for ${idleMs} ms (after ${messagesReceived} messages)`);
  }
}
