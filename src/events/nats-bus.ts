import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../runtime/logger.js';
import { stopSubscriptions } from './sleep.js';
import {
  BusClosedError,
  claimDurable,
  DEFAULT_CLOSE_TIMEOUT_MS,
  type ConsumeHandler,
  type EventBus,
  type EventPublisher,
  type FollowHandler,
  type FollowOptions,
  type Subscription,
} from './event-bus.js';
import type { EventPayloads, EventType } from './event-payloads.js';
import { assertRunId } from './event-subjects.js';
import { startDurableConsumer } from './nats-consume.js';
import { connectJetStream, type NatsConnectionSettings, watchConnection } from './nats-connection.js';
import { startFollower } from './nats-follow.js';
import { DEFAULT_STREAM_LIMITS, ensureStream, latestRunIn, runEndIn } from './nats-stream.js';
import { OutboxPublisher } from './outbox-publisher.js';

/** A publisher's connection: it creates the FLEET_EVENTS stream (readers only look it up: nats-reader.ts). */
export interface NatsBusOptions extends NatsConnectionSettings {
  log: Logger;
  /** Stream limits: events older than this go (default 7 days)... */
  maxAgeMs?: number;
  /** ...and the oldest go when the stream is over this (default 1 GiB). */
  maxBytes?: number;
  /** How long one publish waits for the server's acknowledgement before it is retried (default 5 s). */
  publishTimeoutMs?: number;
  /** Durable consumers: unacknowledged events come again after this (default 30 s; a running handler renews it). */
  ackWaitMs?: number;
  /** Durable consumers: first delay before an event whose handler threw comes again (default 1 s, doubling to 60 s). */
  redeliveryDelayMs?: number;
  /** Events queued per publisher before progress reports are dropped (default 10,000). */
  outboxCapacity?: number;
}

type State = 'open' | 'closing' | 'closed';

class NatsBus implements EventBus {
  readonly kind = 'nats' as const;
  private state: State = 'open';
  private readonly publishers: OutboxPublisher[] = [];
  private readonly subscriptions = new Set<Subscription>();
  private readonly durables = new Set<string>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly watching: Promise<void>;
  /** Throttles re-creating the stream when publishes find no stream (a server restarted with an empty store). */
  private lastStreamCheck = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly o: NatsBusOptions,
    private readonly log: Logger,
  ) {
    this.watching = watchConnection(nc, log, () => {
      for (const l of this.reconnectListeners) l();
    }).catch(() => {});
  }

  publisher(run: string, source: string): EventPublisher {
    this.assertOpen('create a publisher');
    const timeout = this.o.publishTimeoutMs ?? 5000;
    const publisher = new OutboxPublisher({
      run,
      source,
      log: this.log,
      capacity: this.o.outboxCapacity,
      maxPayloadBytes: () => this.nc.info?.max_payload ?? null,
      onReconnect: this.onReconnect,
      send: async (s) => {
        try {
          await this.js.publish(s.subject, s.bytes, { msgID: s.msgId, timeout });
        } catch (err) {
          this.maybeRestoreStream(err);
          throw err;
        }
      },
    });
    this.publishers.push(publisher);
    return publisher;
  }

  async consume(run: string, types: readonly EventType[], durableName: string, handler: ConsumeHandler): Promise<Subscription> {
    this.assertOpen(`consume ${durableName}`);
    claimDurable(this.durables, run, types, durableName);
    try {
      const inner = await startDurableConsumer({
        nc: this.nc,
        js: this.js,
        jsm: this.jsm,
        run,
        types,
        durableName,
        handler,
        log: this.log,
        ackWaitMs: this.o.ackWaitMs ?? 30_000,
        redeliveryDelayMs: this.o.redeliveryDelayMs ?? 1000,
        maxRedeliveryDelayMs: 60_000,
        onReconnect: this.onReconnect,
      });
      return this.track(inner, () => this.durables.delete(durableName));
    } catch (err) {
      this.durables.delete(durableName);
      throw err;
    }
  }

  async follow(run: string, handler: FollowHandler, options: FollowOptions): Promise<Subscription> {
    this.assertOpen(`follow run ${run}`);
    assertRunId(run);
    const inner = await startFollower({
      ...options,
      nc: this.nc,
      js: this.js,
      jsm: this.jsm,
      run,
      handler,
      log: this.log,
      onReconnect: this.onReconnect,
    });
    return this.track(inner, () => {});
  }

  latestRun(): Promise<string | null> {
    this.assertOpen('look up the latest run');
    return latestRunIn(this.jsm);
  }

  runEnd(run: string): Promise<EventPayloads['run.finished'] | null> {
    this.assertOpen('look up how the run ended');
    assertRunId(run);
    return runEndIn(this.jsm, run);
  }

  /**
   * Stops subscriptions first (a running handler may still publish, e.g. an
   * eval), waiting up to timeoutMs for them; then flushes every publisher
   * (up to timeoutMs; what is left is logged as lost) and closes the connection.
   */
  async close(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    await stopSubscriptions(this.subscriptions, timeoutMs, this.log);
    await Promise.all(this.publishers.map((p) => p.close(timeoutMs)));
    await this.nc.close();
    await Promise.all([this.watching, ...this.publishers.map((p) => p.whenStopped())]);
    this.state = 'closed';
  }

  private readonly onReconnect = (listener: () => void): (() => void) => {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  };

  private track(inner: Subscription, onStop: () => void): Subscription {
    const sub: Subscription = {
      stop: async () => {
        await inner.stop();
        this.subscriptions.delete(sub);
        onStop();
      },
    };
    this.subscriptions.add(sub);
    return sub;
  }

  private assertOpen(operation: string): void {
    if (this.state !== 'open') throw new BusClosedError(operation);
  }

  /** No responders on a publish while connected: the stream may be gone (a fresh store); create it again. */
  private maybeRestoreStream(err: unknown): void {
    const message = (err as Error).message ?? '';
    if (!/no responders|not enabled/i.test(message) || this.nc.isClosed() || Date.now() - this.lastStreamCheck < 5000) return;
    this.lastStreamCheck = Date.now();
    ensureStream(this.jsm, this.limits(), this.log).catch((e: unknown) =>
      this.log.debug({ err: (e as Error).message }, 'events stream check failed'),
    );
  }

  limits() {
    return { maxAgeMs: this.o.maxAgeMs ?? DEFAULT_STREAM_LIMITS.maxAgeMs, maxBytes: this.o.maxBytes ?? DEFAULT_STREAM_LIMITS.maxBytes };
  }
}

/**
 * Connects to NATS, makes sure the FLEET_EVENTS stream exists with these
 * limits, and returns the bus. Fails (NatsUnavailableError) when the server
 * cannot be reached within connectTimeoutMs or has no JetStream.
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<EventBus> {
  const log = options.log.child({ component: 'events' });
  return connectJetStream(options, async (nc, jsm) => {
    const bus = new NatsBus(nc, jetstream(nc), jsm, options, log);
    await ensureStream(jsm, bus.limits(), log);
    log.info({ servers: options.servers, server: nc.getServer(), version: nc.info?.version }, 'events bus connected');
    return bus;
  });
}
