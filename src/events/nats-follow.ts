import type { ConsumerMessages, JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../runtime/logger.js';
import type { FollowHandler, FollowOptions, Subscription } from './event-bus.js';
import { decodeEvent } from './event-codec.js';
import { runSubjects, STREAM_NAME } from './event-subjects.js';
import { restartLoop } from './sleep.js';

export interface FollowerOptions extends FollowOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  run: string;
  handler: FollowHandler;
  log: Logger;
  /** Registers a listener for reconnects of the connection (returns its removal). */
  onReconnect: (listener: () => void) => () => void;
}

/**
 * Reads a run's events with an ordered consumer: ephemeral, in memory on the
 * server, no acknowledgements; nats.js re-creates it from the last stream
 * sequence seen when a message is missed. After a reconnect this follower
 * starts a new one itself, after the last event seen: nats.js 3.3 does
 * re-create an ordered consumer lost in a server restart, but then pulls a
 * batch of ~0 messages and stalls until two idle heartbeats are missed (30 s).
 * So the handler sees each event once, in order, across restarts.
 */
export async function startFollower(o: FollowerOptions): Promise<Subscription> {
  const log = o.log.child({ run: o.run });
  const filter = runSubjects(o.run);
  // 'new' as a start sequence, not deliver_policy new: a consumer re-created
  // before any event arrived must not fall back to the start of the stream.
  let nextSeq = o.from === 'start' ? 1 : (await o.jsm.streams.info(STREAM_NAME)).state.last_seq + 1;
  const onMalformed =
    o.onMalformed ?? ((subject: string, err: Error) => log.warn({ subject, err: err.message }, 'malformed event skipped'));

  let stopping = false;
  const stopped = new AbortController();
  let messages: ConsumerMessages | null = null;
  let reconnected = false;
  const stopListening = o.onReconnect(() => {
    reconnected = true;
    messages?.stop();
  });

  const session = async (delivered: () => void): Promise<void> => {
    reconnected = false;
    const consumer = await o.js.consumers.get(STREAM_NAME, { filter_subjects: filter, opt_start_seq: nextSeq });
    messages = await consumer.consume();
    if (stopping) messages.stop();
    void (async (m: ConsumerMessages) => {
      for await (const s of m.status()) if (s.type !== 'next' && s.type !== 'heartbeat') log.debug({ status: s }, 'follow consumer status');
    })(messages).catch(() => {});
    for await (const msg of messages) {
      if (stopping) break;
      nextSeq = msg.info.streamSequence + 1;
      delivered();
      let event: ReturnType<typeof decodeEvent>;
      try {
        event = decodeEvent(msg.subject, msg.data);
      } catch (err) {
        onMalformed(msg.subject, err as Error);
        continue;
      }
      try {
        o.handler(event);
      } catch (err) {
        // The follower goes on: one faulty display update must not stop the stream.
        log.error({ subject: msg.subject, seq: msg.info.streamSequence, err: (err as Error).message }, 'follow handler threw');
      }
    }
    // Tidy, not needed (the server drops it after 5 min idle): not awaited, an outage must not hold up stop().
    consumer.delete().catch(() => {});
  };

  const done = restartLoop({
    stopped: () => stopping || o.nc.isClosed(),
    signal: stopped.signal,
    log,
    what: 'follow',
    session,
    // A fresh connection: start again at once.
    restartNow: () => reconnected,
    fields: () => ({ nextSeq }),
  });
  return {
    stop: async () => {
      if (!stopping) {
        stopping = true;
        stopped.abort();
        stopListening();
        messages?.stop();
      }
      await done;
    },
  };
}
