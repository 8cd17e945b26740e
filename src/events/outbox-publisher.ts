import type { Logger } from '../runtime/logger.js';
import {
  BusClosedError,
  DEFAULT_FLUSH_TIMEOUT_MS,
  EventTooLargeError,
  FlushTimeoutError,
  type EventPublisher,
  type PublishOptions,
} from './event-bus.js';
import type { EventPayloads, EventType } from './event-payloads.js';
import { createEventStamper, type StampedEvent } from './event-stamper.js';
import { Outbox } from './outbox.js';
import { sleepUnless } from './sleep.js';

/** Progress reports: a newer one supersedes an older one, so these make room when the outbox is full. */
const DROPPABLE: ReadonlySet<EventType> = new Set<EventType>(['worker.progress', 'round']);

export interface OutboxPublisherOptions {
  run: string;
  source: string;
  /** Stores one event on the server (resolves on its acknowledgement); throws on timeout or a lost connection. */
  send: (event: StampedEvent) => Promise<void>;
  /** Registers a listener for reconnects (returns its removal): a send waiting for its timeout is then retried at once (same msgId, so no duplicate). */
  onReconnect: (listener: () => void) => () => void;
  /** The server's message size limit, when known. */
  maxPayloadBytes: () => number | null;
  log: Logger;
  /** Items queued before progress reports are dropped; default 10,000. */
  capacity?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

type State = 'open' | 'closing' | 'closed';

interface FlushWaiter {
  ticket: number;
  resolve: () => void;
}

/** Room for the Nats-Msg-Id header and the protocol line around the payload. */
const HEADER_ALLOWANCE_BYTES = 256;

/**
 * A publisher whose publish() only validates and queues, and whose one drain
 * loop sends the queue in order, one event at a time: a failed send (timeout,
 * no responders, disconnected) is retried after a back-off (250 ms doubling
 * to 5 s) with the same msgId, so a server stopped and restarted loses nothing,
 * stores nothing twice, and keeps order.
 */
export class OutboxPublisher implements EventPublisher {
  private state: State = 'open';
  private readonly stamp;
  private readonly outbox: Outbox<StampedEvent>;
  private inFlight: { ticket: number; item: StampedEvent } | null = null;
  private waiters: FlushWaiter[] = [];
  private wake: (() => void) | null = null;
  /** Aborted on close: ends a back-off sleep at once. */
  private readonly closing = new AbortController();
  private readonly drained: Promise<void>;
  /** Drops since the outbox last had room: logged when a burst starts and when it ends. */
  private burst: { dropped: number; overCapacityLogged: boolean } | null = null;

  constructor(private readonly o: OutboxPublisherOptions) {
    this.stamp = createEventStamper(o.run, o.source);
    this.outbox = new Outbox<StampedEvent>(o.capacity ?? 10_000, (s) => DROPPABLE.has(s.event.type));
    this.drained = this.drainLoop();
  }

  get pending(): number {
    return this.outbox.length + (this.inFlight ? 1 : 0);
  }

  publish<T extends EventType>(type: T, data: EventPayloads[T], options: PublishOptions = {}): void {
    if (this.state !== 'open') throw new BusClosedError(`publish ${type} (publisher of ${this.o.source} is ${this.state})`);
    const stamped = this.stamp(type, data, options.msgId);
    const max = this.o.maxPayloadBytes();
    const size = stamped.bytes.length + stamped.subject.length + stamped.msgId.length + HEADER_ALLOWANCE_BYTES;
    if (max !== null && size > max) throw new EventTooLargeError(stamped.subject, stamped.bytes.length, max);
    const { dropped, overCapacity } = this.outbox.push(stamped);
    if (dropped > 0 || overCapacity) this.noteOverflow(dropped, overCapacity);
    this.wake?.();
  }

  flush(timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS): Promise<void> {
    const ticket = this.outbox.lastTicket;
    if (this.settledUpTo(ticket)) return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new BusClosedError(`flush (publisher of ${this.o.source} is closed)`));
    return new Promise<void>((resolve, reject) => {
      const waiter: FlushWaiter = {
        ticket,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new FlushTimeoutError(this.o.run, this.o.source, this.pending, timeoutMs));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Flushes (bounded by timeoutMs), then stops the loop; what is still queued is logged as lost. */
  async close(timeoutMs: number): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    try {
      await this.flush(timeoutMs);
    } catch (err) {
      this.o.log.error(
        { run: this.o.run, source: this.o.source, lost: this.pending, err: (err as Error).message },
        'events not stored before close: lost',
      );
    }
    this.state = 'closed';
    this.closing.abort();
    this.wake?.();
    // The loop ends at once when idle; a send in progress ends when the connection closes.
  }

  /** For tests and close(): resolves when the drain loop has ended. */
  whenStopped(): Promise<void> {
    return this.drained;
  }

  private settledUpTo(ticket: number): boolean {
    const oldest = this.inFlight?.ticket ?? this.outbox.oldestTicket;
    return oldest === null || oldest > ticket;
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    const still: FlushWaiter[] = [];
    for (const w of this.waiters) {
      if (this.settledUpTo(w.ticket)) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private noteOverflow(dropped: number, overCapacity: boolean): void {
    const log = this.o.log;
    if (this.burst === null) {
      this.burst = { dropped: 0, overCapacityLogged: false };
      if (dropped > 0)
        log.warn(
          { run: this.o.run, source: this.o.source, capacity: this.outbox.capacity },
          'events outbox full (server unreachable?): dropping the oldest progress events',
        );
    }
    this.burst.dropped += dropped;
    if (overCapacity && !this.burst.overCapacityLogged) {
      this.burst.overCapacityLogged = true;
      log.warn(
        { run: this.o.run, source: this.o.source, capacity: this.outbox.capacity, queued: this.outbox.length },
        'events outbox over capacity with nothing droppable left: keeping every event',
      );
    }
    this.settle();
  }

  /** A burst ends once the outbox is back under half its capacity. */
  private endBurstIfDrained(): void {
    if (this.burst === null || this.outbox.length > this.outbox.capacity / 2) return;
    if (this.burst.dropped > 0) {
      this.o.log.warn(
        { run: this.o.run, source: this.o.source, dropped: this.burst.dropped },
        'events outbox drained: progress events were dropped while it was full',
      );
    }
    this.burst = null;
  }

  private async drainLoop(): Promise<void> {
    while (this.state !== 'closed') {
      const entry = this.outbox.shift();
      if (entry === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = null;
        continue;
      }
      this.inFlight = entry;
      await this.deliver(entry.item);
      this.inFlight = null;
      this.endBurstIfDrained();
      this.settle();
    }
  }

  /** Sends one event until it is stored or the publisher is closed. */
  private async deliver(item: StampedEvent): Promise<void> {
    let backoffMs = this.o.initialBackoffMs ?? 250;
    let failures = 0;
    const started = Date.now();
    while (this.state !== 'closed') {
      let stopListening = (): void => {};
      const reconnected = new Promise<'reconnected'>((resolve) => {
        stopListening = this.o.onReconnect(() => resolve('reconnected'));
      });
      try {
        const sent = this.o.send(item).then(() => 'stored' as const);
        sent.catch(() => {}); // abandoned after a reconnect: its late failure is of no interest
        const outcome = await Promise.race([sent, reconnected]);
        if (outcome === 'stored') {
          if (failures > 0)
            this.o.log.info(
              { run: this.o.run, subject: item.subject, msgId: item.msgId, failures, outageMs: Date.now() - started },
              'events publishing resumed',
            );
          return;
        }
        failures++;
      } catch (err) {
        failures++;
        const fields = {
          run: this.o.run,
          subject: item.subject,
          msgId: item.msgId,
          failures,
          retryInMs: backoffMs,
          queued: this.outbox.length,
          err: (err as Error).message,
        };
        if (failures === 1) this.o.log.warn(fields, 'event publish failed: retrying the same message');
        else this.o.log.debug(fields, 'event publish failed again');
        await Promise.race([sleepUnless(this.closing.signal, backoffMs), reconnected]);
        backoffMs = Math.min(this.o.maxBackoffMs ?? 5000, backoffMs * 2);
      } finally {
        stopListening();
      }
    }
  }
}
