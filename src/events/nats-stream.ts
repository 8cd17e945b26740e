import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from '../runtime/logger.js';
import { ALL_SUBJECTS, DUPLICATE_WINDOW_MS, STREAM_NAME, typeOfSubject } from './event-subjects.js';

export interface StreamLimits {
  maxAgeMs: number;
  maxBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 1024 ** 3 };

/**
 * Creates the FLEET_EVENTS stream, or brings an existing one's limits to
 * these (every service calls this at start; the last one's limits win).
 * File storage: events outlive a server restart; old events go first when full.
 */
export async function ensureStream(jsm: JetStreamManager, limits: StreamLimits, log: Logger): Promise<void> {
  const wanted: Partial<StreamConfig> = {
    subjects: [ALL_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(limits.maxAgeMs),
    max_bytes: limits.maxBytes,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  };
  try {
    const info = await jsm.streams.info(STREAM_NAME);
    const c = info.config;
    if (
      c.max_age !== wanted.max_age ||
      c.max_bytes !== wanted.max_bytes ||
      c.duplicate_window !== wanted.duplicate_window ||
      c.discard !== wanted.discard
    ) {
      // storage and retention cannot change on a live stream: only the limits are updated.
      await jsm.streams.update(STREAM_NAME, {
        ...c,
        max_age: wanted.max_age,
        max_bytes: wanted.max_bytes,
        duplicate_window: wanted.duplicate_window,
        discard: wanted.discard,
      });
      log.info({ stream: STREAM_NAME, maxAgeMs: limits.maxAgeMs, maxBytes: limits.maxBytes }, 'events stream limits updated');
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add({ name: STREAM_NAME, ...wanted });
    log.info({ stream: STREAM_NAME, maxAgeMs: limits.maxAgeMs, maxBytes: limits.maxBytes }, 'events stream created');
  }
}

/** The run of the newest run.started in the stream (one lookup by subject, not a scan), or null. */
export async function latestRunIn(jsm: JetStreamManager): Promise<string | null> {
  const msg = await jsm.streams.getMessage(STREAM_NAME, { last_by_subj: 'fleet.*.run.started' });
  if (msg === null) return null;
  return typeOfSubject(msg.subject)?.run ?? null;
}
