import { assertRunId } from './event-subjects.js';
import { FleetError } from '../runtime/errors.js';
import type { AnyFleetEvent } from './event-codec.js';
import type { EventPayloads, EventType } from './event-payloads.js';

/**
 * The events bus every service codes against: NATS JetStream in a cluster
 * (nats-bus.ts), or one process's memory when there is no NATS (memory-bus.ts).
 */

export interface PublishOptions {
  /**
   * The de-duplication id (JetStream Nats-Msg-Id): a second message with the
   * same id within the stream's duplicate window (1 h) is not stored. Default
   * `<run>:<source>:<seq>`; give one when the same fact may be published again
   * by another process, e.g. `eval:<run>:<version>` for an evaluation re-done after a crash.
   */
  msgId?: string;
}

export interface EventPublisher {
  /** Validates now (throws MalformedEventError on a bad payload), then queues; never waits for the network. */
  publish<T extends EventType>(type: T, data: EventPayloads[T], options?: PublishOptions): void;
  /** Resolves once everything queued so far is stored by the server (rejects after timeoutMs, default 30 s, with a FlushTimeoutError saying how many are still queued). */
  flush(timeoutMs?: number): Promise<void>;
  /** Events queued and not yet stored by the server (the metrics' backlog); absent where publish stores at once. */
  readonly pending?: number;
}

export interface Subscription {
  /** Stops delivery; resolves after the handler call in progress (if any) has finished and been acknowledged. */
  stop(): Promise<void>;
}

export type ConsumeHandler = (event: AnyFleetEvent) => Promise<void>;
export type FollowHandler = (event: AnyFleetEvent) => void;

export interface FollowOptions {
  /** 'start': every event of the run still in the stream; 'new': only those published from now on. */
  from: 'start' | 'new';
  /** Called for each malformed message (which is skipped); default: a warn log line. */
  onMalformed?: (subject: string, err: Error) => void;
}

export interface EventBus {
  readonly kind: 'nats' | 'memory';
  /**
   * Events of `run`, published as `source` (`<service>:<instance>`); seq counts
   * from 1 per publisher. `source` must be unique per process lifetime (put a
   * random instance id in it): the default msgId is `<run>:<source>:<seq>`, so
   * a restarted process reusing its source would have its first events dropped
   * as duplicates for an hour.
   */
  publisher(run: string, source: string): EventPublisher;
  /**
   * A durable consumer (its position survives restarts of both sides): `handler`
   * sees events of the given types of `run` in stream order, one at a time; an
   * event is acknowledged only after handler resolves; if handler throws, the
   * same event is redelivered after a back-off, before any later one. Malformed
   * messages are logged (warn, naming subject and fault) and terminated, never
   * handed to handler. After a server crash an event may come again (lost
   * acknowledgements): handlers must be idempotent.
   */
  consume(run: string, types: readonly EventType[], durableName: string, handler: ConsumeHandler): Promise<Subscription>;
  /** Every event of `run` from the start of the stream ('start') or only new ones ('new'), in order, then follows; nothing durable is left behind. */
  follow(run: string, handler: FollowHandler, options: FollowOptions): Promise<Subscription>;
  /** The run id of the most recent run.started event in the stream, or null. */
  latestRun(): Promise<string | null>;
  /**
   * How `run` last ended: its newest run.finished when no run.started came
   * after it (a resumed run starts again); null while it goes on, or when
   * the stream holds none of its events.
   */
  runEnd(run: string): Promise<EventPayloads['run.finished'] | null>;
  /** Flushes every publisher (bounded by timeoutMs, default 10 s; what is still queued then is logged as lost), stops subscriptions, closes the connection. */
  close(timeoutMs?: number): Promise<void>;
}

export const DEFAULT_FLUSH_TIMEOUT_MS = 30_000;
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

/** The bus (or one of its publishers) was used after close(). */
export class BusClosedError extends FleetError {
  constructor(readonly operation: string) {
    super(`events bus is closed: cannot ${operation}`);
  }
}

export class FlushTimeoutError extends FleetError {
  constructor(
    readonly run: string,
    readonly source: string,
    readonly pending: number,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`flush of events of run ${run} from ${source} timed out after ${timeoutMs} ms: ${pending} still queued`, options);
  }
}

/** Larger than the server accepts: refused at publish, or it would block the outbox forever. */
export class EventTooLargeError extends FleetError {
  constructor(
    readonly subject: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`event on ${subject} is ${bytes} bytes, over the server's limit of ${maxBytes}`);
  }
}

/** consume() with a durable name already being consumed in this process. */
export class DurableInUseError extends FleetError {
  constructor(readonly durableName: string) {
    super(`durable consumer ${JSON.stringify(durableName)} is already being consumed in this process`);
  }
}

const DURABLE_NAME = /^[A-Za-z0-9_-]{1,200}$/;

/** A durable name is a NATS token: no dots, wildcards or spaces. */
export class InvalidDurableNameError extends FleetError {
  constructor(readonly durableName: string) {
    super(`invalid durable consumer name ${JSON.stringify(durableName)}: expected 1 to 200 characters of A-Z a-z 0-9 _ -`);
  }
}

export function assertDurableName(durableName: string): void {
  if (!DURABLE_NAME.test(durableName)) throw new InvalidDurableNameError(durableName);
}

/**
 * consume()'s arguments, checked the same way by every bus, and the durable
 * claimed in `active` (one consumer per name per process).
 */
export function claimDurable(active: Set<string>, run: string, types: readonly string[], durableName: string): void {
  assertRunId(run);
  assertDurableName(durableName);
  if (types.length === 0) throw new FleetError(`consume ${durableName}: no event types given`);
  if (active.has(durableName)) throw new DurableInUseError(durableName);
  active.add(durableName);
}
