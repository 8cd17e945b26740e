import { jetstream } from '@nats-io/jetstream';
import type { Logger } from '../runtime/logger.js';
import { BusClosedError, DEFAULT_CLOSE_TIMEOUT_MS, type Subscription } from './event-bus.js';
import type { EventReader } from './event-reader.js';
import { assertRunId } from './event-subjects.js';
import { connectJetStream, type NatsConnectionSettings, watchConnection } from './nats-connection.js';
import { startFollower } from './nats-follow.js';
import { latestRunIn, runEventCount, runsIn, streamExists } from './nats-stream.js';
import { stopSubscriptions } from './sleep.js';

export interface NatsReaderOptions extends NatsConnectionSettings {
  log: Logger;
}

/**
 * Connects to NATS for reading only (see EventReader): the stream is looked
 * up, never created. Fails (NatsUnavailableError) when the server cannot be
 * reached within connectTimeoutMs or has no JetStream.
 */
export async function connectNatsReader(options: NatsReaderOptions): Promise<EventReader> {
  const log = options.log.child({ component: 'events' });
  return connectJetStream(options, (nc, jsm) => {
    const js = jetstream(nc);
    const reconnectListeners = new Set<() => void>();
    const watching = watchConnection(nc, log, () => {
      for (const l of reconnectListeners) l();
    }).catch(() => {});
    const onReconnect = (listener: () => void): (() => void) => {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    };
    const subscriptions = new Set<Subscription>();
    let closed = false;
    const assertOpen = (operation: string): void => {
      if (closed) throw new BusClosedError(operation);
    };
    log.info({ servers: options.servers, server: nc.getServer(), version: nc.info?.version }, 'events reader connected');
    return {
      hasStream: () => streamExists(jsm),
      latestRun: () => latestRunIn(jsm),
      runEventCount: (run) => runEventCount(jsm, assertRunId(run)),
      knownRuns: (limit) => runsIn(jsm, limit),
      follow: async (run, handler, followOptions) => {
        assertOpen(`follow run ${run}`);
        assertRunId(run);
        const inner = await startFollower({ ...followOptions, nc, js, jsm, run, handler, log, onReconnect });
        const sub: Subscription = {
          stop: async () => {
            await inner.stop();
            subscriptions.delete(sub);
          },
        };
        subscriptions.add(sub);
        return sub;
      },
      close: async (timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS) => {
        if (closed) return;
        closed = true;
        await stopSubscriptions(subscriptions, timeoutMs, log);
        await nc.close();
        await watching;
      },
    };
  });
}
