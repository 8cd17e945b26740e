import type { Logger } from '../runtime/logger.js';
import {
  BusClosedError,
  claimDurable,
  DEFAULT_CLOSE_TIMEOUT_MS,
  type ConsumeHandler,
  type EventBus,
  type EventPublisher,
  type FollowHandler,
  type FollowOptions,
  type PublishOptions,
  type Subscription,
} from './event-bus.js';
import { decodeEvent } from './event-codec.js';
import type { EventPayloads, EventType } from './event-payloads.js';
import { assertRunId, DUPLICATE_WINDOW_MS, typeOfSubject } from './event-subjects.js';
import { createEventStamper, type StampedEvent } from './event-stamper.js';
import { sleepUnless, stopSubscriptions } from './sleep.js';

export interface MemoryBusOptions {
  /** First delay before an event whose handler threw comes again (default 1 s, doubling to 60 s). */
  redeliveryDelayMs?: number;
}

type State = 'open' | 'closing' | 'closed';

/**
 * The events bus inside one process, for runs without NATS: the same
 * contract as the NATS bus (validation, msgId de-duplication within the
 * hour, stream order, durable positions that a second consume() with the
 * same name resumes, redelivery after a handler throws), kept in memory.
 * Events are stored encoded and decoded on delivery, as on the wire.
 */
class MemoryBus implements EventBus {
  readonly kind = 'memory' as const;
  private state: State = 'open';
  private readonly stored: Array<{ subject: string; bytes: Uint8Array }> = [];
  private readonly msgIds = new Map<string, number>();
  /** Per durable name: the index in `stored` of the next event to deliver. */
  private readonly cursors = new Map<string, number>();
  private readonly activeDurables = new Set<string>();
  private readonly onAppend = new Set<() => void>();
  private readonly subscriptions = new Set<Subscription>();

  constructor(
    private readonly log: Logger,
    private readonly o: MemoryBusOptions,
  ) {}

  publisher(run: string, source: string): EventPublisher {
    this.assertOpen('create a publisher');
    const stamp = createEventStamper(run, source);
    return {
      publish: <T extends EventType>(type: T, data: EventPayloads[T], options: PublishOptions = {}) => {
        this.assertOpen(`publish ${type}`);
        this.append(stamp(type, data, options.msgId));
      },
      // Stored on publish: nothing is ever in flight.
      flush: () => Promise.resolve(),
    };
  }

  async consume(run: string, types: readonly EventType[], durableName: string, handler: ConsumeHandler): Promise<Subscription> {
    this.assertOpen(`consume ${durableName}`);
    claimDurable(this.activeDurables, run, types, durableName);
    const wanted = new Set<EventType>(types);
    const log = this.log.child({ run, durable: durableName });
    const stopped = new AbortController();
    let wake: (() => void) | null = null;
    const listener = () => wake?.();
    this.onAppend.add(listener);
    stopped.signal.addEventListener('abort', listener);

    const loop = async (): Promise<void> => {
      let attempt = 0;
      while (!stopped.signal.aborted) {
        const cursor = this.cursors.get(durableName) ?? 0;
        const next = this.stored[cursor];
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
          continue;
        }
        const where = typeOfSubject(next.subject);
        const event = where !== null && where.run === run && wanted.has(where.type) ? this.decode(next, log) : null;
        if (event !== null) {
          try {
            await handler(event);
          } catch (err) {
            attempt++;
            const delayMs = Math.min(60_000, (this.o.redeliveryDelayMs ?? 1000) * 2 ** (attempt - 1));
            log.warn(
              { subject: next.subject, attempt, retryInMs: delayMs, err: (err as Error).message },
              'event handler failed: the event comes again',
            );
            await sleepUnless(stopped.signal, delayMs);
            continue;
          }
        }
        attempt = 0;
        this.cursors.set(durableName, cursor + 1);
      }
    };
    const done = loop();
    return this.track({
      stop: async () => {
        stopped.abort();
        await done;
        this.onAppend.delete(listener);
        this.activeDurables.delete(durableName);
      },
    });
  }

  async follow(run: string, handler: FollowHandler, options: FollowOptions): Promise<Subscription> {
    this.assertOpen(`follow run ${run}`);
    assertRunId(run);
    const log = this.log.child({ run });
    let cursor = options.from === 'start' ? 0 : this.stored.length;
    let scheduled = false;
    let stopped = false;
    const pump = () => {
      scheduled = false;
      while (!stopped && cursor < this.stored.length) {
        const next = this.stored[cursor++]!;
        if (typeOfSubject(next.subject)?.run !== run) continue;
        const event = this.decode(next, log, options.onMalformed);
        if (event === null) continue;
        try {
          handler(event);
        } catch (err) {
          log.error({ subject: next.subject, err: (err as Error).message }, 'follow handler threw');
        }
      }
    };
    // Delivered from a microtask, never inside the publisher's call.
    const listener = () => {
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(pump);
      }
    };
    this.onAppend.add(listener);
    listener();
    return this.track({
      stop: async () => {
        stopped = true;
        this.onAppend.delete(listener);
      },
    });
  }

  async latestRun(): Promise<string | null> {
    this.assertOpen('look up the latest run');
    for (let i = this.stored.length - 1; i >= 0; i--) {
      const where = typeOfSubject(this.stored[i]!.subject);
      if (where?.type === 'run.started') return where.run;
    }
    return null;
  }

  async runEnd(run: string): Promise<EventPayloads['run.finished'] | null> {
    this.assertOpen('look up how the run ended');
    assertRunId(run);
    for (let i = this.stored.length - 1; i >= 0; i--) {
      const s = this.stored[i]!;
      const where = typeOfSubject(s.subject);
      if (where?.run !== run) continue;
      if (where.type === 'run.started') return null;
      if (where.type === 'run.finished') return decodeEvent(s.subject, s.bytes).data as EventPayloads['run.finished'];
    }
    return null;
  }

  async close(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    await stopSubscriptions(this.subscriptions, timeoutMs, this.log);
    this.state = 'closed';
  }

  private append(s: StampedEvent): void {
    const now = Date.now();
    const seen = this.msgIds.get(s.msgId);
    if (seen !== undefined && now - seen < DUPLICATE_WINDOW_MS) return;
    this.msgIds.set(s.msgId, now);
    this.stored.push({ subject: s.subject, bytes: s.bytes });
    for (const l of this.onAppend) l();
  }

  private decode(s: { subject: string; bytes: Uint8Array }, log: Logger, onMalformed?: (subject: string, err: Error) => void) {
    try {
      return decodeEvent(s.subject, s.bytes);
    } catch (err) {
      if (onMalformed) onMalformed(s.subject, err as Error);
      else log.warn({ subject: s.subject, err: (err as Error).message }, 'malformed event skipped');
      return null;
    }
  }

  private track(inner: Subscription): Subscription {
    const sub: Subscription = {
      stop: async () => {
        await inner.stop();
        this.subscriptions.delete(sub);
      },
    };
    this.subscriptions.add(sub);
    return sub;
  }

  private assertOpen(operation: string): void {
    if (this.state !== 'open') throw new BusClosedError(operation);
  }
}

export function createMemoryBus(log: Logger, options: MemoryBusOptions = {}): EventBus {
  return new MemoryBus(log.child({ component: 'events' }), options);
}
