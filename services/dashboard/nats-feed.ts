import type { FleetEvent } from '../../src/events/event-payloads.js';
import type { EventReader } from '../../src/events/event-reader.js';
import type { Subscription } from '../../src/events/event-bus.js';
import type { Logger } from '../../src/runtime/logger.js';

/**
 * Feeds the board from NATS: follows each run and sweep in the stream from
 * its start (an ordered consumer per key, through EventReader.follow, which
 * rides out reconnects). The newest run to start is looked up every
 * `pollMs` (one look-up by subject), so a new run shows within a second;
 * every `scanMs` the whole stream's keys are listed (a look-up per key), which
 * finds sweeps and runs that started meanwhile. Only the `maxKeys` most
 * recently active are followed; older ones stay readable from their
 * directories. It only reads: the stream is the publishers'.
 */
export interface NatsFeedOptions {
  reader: EventReader;
  onEvent: (event: FleetEvent) => void;
  log: Logger;
  pollMs?: number;
  scanMs?: number;
  maxKeys?: number;
}

export interface NatsFeed {
  /** Resolves after the first look-up (the stream's runs followed, or none yet). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_MAX_FOLLOWED = 50;

export function startNatsFeed(o: NatsFeedOptions): NatsFeed {
  const pollMs = o.pollMs ?? 1000;
  const scanMs = o.scanMs ?? 10_000;
  let lastScan = -Infinity;
  const maxKeys = o.maxKeys ?? DEFAULT_MAX_FOLLOWED;
  const followed = new Map<string, Subscription>();
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let said = '';

  const look = async (): Promise<void> => {
    try {
      if (!(await o.reader.hasStream())) {
        if (said !== 'no-stream') o.log.info('no FLEET_EVENTS stream yet: waiting for a run to publish');
        said = 'no-stream';
        return;
      }
      let keys: string[];
      if (Date.now() - lastScan >= scanMs) {
        keys = (await o.reader.knownRuns(maxKeys)).runs;
        lastScan = Date.now();
      } else {
        const latest = await o.reader.latestRun();
        keys = latest === null ? [] : [latest];
      }
      for (const key of keys) {
        if (stopping || followed.has(key)) continue;
        const sub = await o.reader.follow(key, o.onEvent, { from: 'start' });
        followed.set(key, sub);
        o.log.info({ key }, 'following');
      }
      said = '';
    } catch (err) {
      // NATS away for a while: the next look-up tries again; followers already running reconnect on their own.
      if (said !== 'error') o.log.warn({ err: (err as Error).message }, 'looking up runs on NATS failed: trying again');
      said = 'error';
    }
  };

  const loop = async (): Promise<void> => {
    await look();
    if (!stopping) timer = setTimeout(() => void loop(), pollMs);
  };
  const ready = look().then(() => {
    if (!stopping) timer = setTimeout(() => void loop(), pollMs);
  });

  return {
    ready,
    stop: async () => {
      stopping = true;
      if (timer !== null) clearTimeout(timer);
      await ready;
      await Promise.all([...followed.values()].map((s) => s.stop().catch(() => {})));
    },
  };
}
