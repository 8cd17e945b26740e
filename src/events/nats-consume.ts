import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../runtime/logger.js';
import type { ConsumeHandler, Subscription } from './event-bus.js';
import { decodeEvent, MalformedEventError } from './event-codec.js';
import type { EventType } from './event-payloads.js';
import { runSubjects, STREAM_NAME, subjectOf, typeOfSubject } from './event-subjects.js';
import { restartLoop } from './sleep.js';

export interface DurableConsumerOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  run: string;
  types: readonly EventType[];
  durableName: string;
  handler: ConsumeHandler;
  log: Logger;
  /** The server redelivers an unacknowledged event after this; a running handler keeps it with working() every third of it. */
  ackWaitMs: number;
  /** The first redelivery delay after a handler threw; doubles per attempt up to maxRedeliveryDelayMs. */
  redeliveryDelayMs: number;
  maxRedeliveryDelayMs: number;
  /** Registers a listener for reconnects of the connection (returns its removal). */
  onReconnect: (listener: () => void) => () => void;
}

/** Whether the server filters on several subjects per consumer (filter_subjects, nats-server 2.10). */
function supportsManyFilters(nc: NatsConnection): boolean {
  const [major = 0, minor = 0] = (nc.info?.version ?? '0.0').split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}

/**
 * The durable's configuration. One un-acknowledged event at a time
 * (max_ack_pending 1): a redelivery (handler threw) comes before any later
 * event, so the handler sees stream order even across failures and restarts.
 */
function durableConfig(o: DurableConsumerOptions): Partial<ConsumerConfig> {
  const subjects = [...new Set(o.types)].map((t) => subjectOf(o.run, t));
  // One subject, or several on a 2.10 server; else the whole run, narrowed here on receipt.
  const single = subjects.length === 1 ? subjects[0] : supportsManyFilters(o.nc) ? undefined : runSubjects(o.run);
  return {
    durable_name: o.durableName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(o.ackWaitMs),
    max_deliver: -1,
    max_ack_pending: 1,
    // Both keys always set, so an update replaces whichever form the durable had.
    filter_subject: single,
    filter_subjects: single === undefined ? subjects : undefined,
  };
}

/** Creates the durable, or updates it to this configuration (types changed, ack wait changed). */
async function ensureDurable(o: DurableConsumerOptions): Promise<void> {
  const config = durableConfig(o);
  try {
    await o.jsm.consumers.info(STREAM_NAME, o.durableName);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) {
      await o.jsm.consumers.add(STREAM_NAME, config);
      return;
    }
    throw err;
  }
  const { durable_name: _name, ack_policy: _ack, deliver_policy: _deliver, ...changeable } = config;
  await o.jsm.consumers.update(STREAM_NAME, o.durableName, changeable);
}

function redeliveryDelay(o: DurableConsumerOptions, deliveryCount: number): number {
  return Math.min(o.maxRedeliveryDelayMs, o.redeliveryDelayMs * 2 ** Math.max(0, deliveryCount - 1));
}

/**
 * Runs `handler` over the durable's events until stopped. nats.js's consume()
 * re-issues its pull requests after a reconnect, and the durable's position
 * is on the server (file storage), so a nats-server restarted underneath is
 * ridden out; if the consumer itself is gone (a new store), it is created again.
 */
export async function startDurableConsumer(o: DurableConsumerOptions): Promise<Subscription> {
  const log = o.log.child({ run: o.run, durable: o.durableName });
  const wanted = new Set<EventType>(o.types);
  await ensureDurable(o).catch((err: unknown) => {
    throw new Error(`cannot create durable consumer ${o.durableName} on ${STREAM_NAME} for run ${o.run}: ${(err as Error).message}`, {
      cause: err,
    });
  });
  const consumer = await o.js.consumers.get(STREAM_NAME, o.durableName);

  let stopping = false;
  const stopped = new AbortController();
  let messages: ConsumerMessages | null = null;
  /** Set by stop(): our pull subscription is gone on the server, so acking cannot pull in one more event that nobody reads. */
  let unsubscribed: Promise<void> | null = null;
  /** Stream sequence of the last event settled here: a redelivery of it (its ack was lost in a server crash) is only acknowledged. */
  let lastSettledSeq = 0;

  /**
   * Acknowledges and waits for the server's confirmation, so stop() means
   * "acknowledged". An ack sent as the server went down is lost, and with one
   * event in flight the durable would wait out ack_wait before anything else
   * moves; so when the connection comes back first, the ack is sent again on
   * the new one (acks are idempotent). If it is lost anyway, the redelivery
   * is only acknowledged (lastSettledSeq).
   */
  const ack = async (msg: JsMsg): Promise<void> => {
    let stopListening = (): void => {};
    const reconnected = new Promise<'reconnected'>((resolve) => {
      stopListening = o.onReconnect(() => resolve('reconnected'));
    });
    const confirmed = msg.ackAck({ timeout: 5000 }).then(
      () => 'confirmed' as const,
      (err: unknown) => (err as Error).message,
    );
    const outcome = await Promise.race([confirmed, reconnected]);
    stopListening();
    if (outcome === 'confirmed') return;
    log.debug({ seq: msg.info.streamSequence, outcome }, 'ack not confirmed: sending it again');
    const reply = (msg as unknown as { reply?: unknown }).reply;
    if (typeof reply === 'string' && reply !== '' && !o.nc.isClosed()) o.nc.publish(reply, '+ACK');
  };

  const handle = async (msg: JsMsg): Promise<void> => {
    const seq = msg.info.streamSequence;
    if (seq <= lastSettledSeq) return ack(msg);
    const where = typeOfSubject(msg.subject);
    if (where !== null && (where.run !== o.run || !wanted.has(where.type))) {
      lastSettledSeq = seq;
      return ack(msg);
    }
    let event: ReturnType<typeof decodeEvent>;
    try {
      event = decodeEvent(msg.subject, msg.data);
    } catch (err) {
      const fault = err instanceof MalformedEventError ? err.message : `malformed event on ${msg.subject}: ${(err as Error).message}`;
      log.warn({ subject: msg.subject, seq, err: fault }, 'malformed event skipped');
      lastSettledSeq = seq;
      // No reason text: nats-server 2.9 takes only a bare +TERM (with a reason it is ignored and the durable stalls).
      msg.term();
      return;
    }
    const keepAlive = setInterval(() => msg.working(), Math.max(250, o.ackWaitMs / 3));
    try {
      await o.handler(event);
    } catch (err) {
      const delayMs = redeliveryDelay(o, msg.info.deliveryCount);
      log.warn(
        { subject: msg.subject, seq, attempt: msg.info.deliveryCount, retryInMs: delayMs, err: (err as Error).message },
        'event handler failed: the event comes again',
      );
      msg.nak(delayMs);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    lastSettledSeq = seq;
    if (unsubscribed) await unsubscribed;
    await ack(msg);
  };

  const watchStatus = async (m: ConsumerMessages): Promise<void> => {
    for await (const s of m.status()) {
      if (s.type !== 'next' && s.type !== 'heartbeat') log.debug({ status: s }, 'durable consumer status');
      if (s.type === 'consumer_not_found' || s.type === 'consumer_deleted') {
        log.warn({ status: s.type }, 'durable consumer gone from the server: creating it again');
        await ensureDurable(o).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'durable consumer not re-created yet'));
      }
    }
  };

  const session = async (delivered: () => void): Promise<void> => {
    messages = await consumer.consume({ max_messages: 8 });
    if (stopping) messages.stop();
    void watchStatus(messages).catch(() => {});
    for await (const msg of messages) {
      if (stopping) {
        // Delivered after stop(): hand it back now rather than after ack_wait.
        if (msg.info.streamSequence <= lastSettledSeq) await ack(msg);
        else msg.nak();
        continue;
      }
      await handle(msg);
      delivered();
    }
  };

  const done = restartLoop({ stopped: () => stopping || o.nc.isClosed(), signal: stopped.signal, log, what: 'consume', session });
  return {
    stop: async () => {
      if (!stopping) {
        stopping = true;
        stopped.abort();
        const m = messages;
        unsubscribed = (async () => {
          m?.stop();
          // The server must see the unsubscribe before our last ack lets it send the next event
          // (bounded: during an outage the flush would wait for the reconnect).
          if (!o.nc.isClosed()) await Promise.race([o.nc.flush().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000))]);
        })();
      }
      await done;
    },
  };
}
