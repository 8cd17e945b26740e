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
import { ALL_SUBJECTS, DUPLICATE_WINDOW_MS, runSubjects, STREAM_NAME, subjectOf, typeOfSubject } from './event-subjects.js';
import { decodeEvent, MalformedEventError } from './event-codec.js';
import type { EventPayloads } from './event-payloads.js';

export interface StreamLimits {
  maxAgeMs: number;
  maxBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 1024 ** 3 };

/**
 * Creates the FLEET_EVENTS stream, or brings an existing one's limits to
 * these (every publishing service calls this at start; the last one's limits
 * win). Readers never call it: they look the stream up (streamExists).
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

/** The run of the newest run.started in the stream (one lookup by subject, not a scan), or null (none, or no stream). */
export async function latestRunIn(jsm: JetStreamManager): Promise<string | null> {
  let msg: Awaited<ReturnType<JetStreamManager['streams']['getMessage']>>;
  try {
    msg = await jsm.streams.getMessage(STREAM_NAME, { last_by_subj: 'fleet.*.run.started' });
  } catch (err) {
    if (isStreamNotFound(err)) return null;
    throw err;
  }
  if (msg === null) return null;
  return typeOfSubject(msg.subject)?.run ?? null;
}

/** How `run` last ended (EventBus.runEnd): two lookups by subject, the newest run.started and run.finished. */
export async function runEndIn(jsm: JetStreamManager, run: string): Promise<EventPayloads['run.finished'] | null> {
  const last = async (subject: string) => {
    try {
      return await jsm.streams.getMessage(STREAM_NAME, { last_by_subj: subject });
    } catch (err) {
      if (isStreamNotFound(err)) return null;
      throw err;
    }
  };
  const [started, finished] = await Promise.all([last(subjectOf(run, 'run.started')), last(subjectOf(run, 'run.finished'))]);
  if (finished === null || (started !== null && started.seq > finished.seq)) return null;
  try {
    return decodeEvent(finished.subject, finished.data).data as EventPayloads['run.finished'];
  } catch (err) {
    // Anyone may publish on the subject: garbage proves nothing about the run's end (consumers report and skip it).
    if (err instanceof MalformedEventError) return null;
    throw err;
  }
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/** Whether FLEET_EVENTS exists on the server (a look-up: nothing is created). */
export async function streamExists(jsm: JetStreamManager): Promise<boolean> {
  try {
    await jsm.streams.info(STREAM_NAME);
    return true;
  } catch (err) {
    if (isStreamNotFound(err)) return false;
    throw err;
  }
}

/** How many events the stream holds per subject under `filter`; empty when there is no stream. */
async function subjectCounts(jsm: JetStreamManager, filter: string): Promise<Record<string, number>> {
  try {
    const info = await jsm.streams.info(STREAM_NAME, { subjects_filter: filter });
    return info.state.subjects ?? {};
  } catch (err) {
    if (isStreamNotFound(err)) return {};
    throw err;
  }
}

/** Events of `run` in the stream (0 when there is no stream). */
export async function runEventCount(jsm: JetStreamManager, run: string): Promise<number> {
  return Object.values(await subjectCounts(jsm, runSubjects(run))).reduce((a, b) => a + b, 0);
}

/**
 * The runs with events in the stream, the most recently published first (by
 * the stream sequence of each run's last event); the first `limit` of them,
 * and how many there are. Empty when there is no stream.
 */
export async function runsIn(jsm: JetStreamManager, limit: number): Promise<{ runs: string[]; total: number }> {
  const runs = new Set<string>();
  for (const subject of Object.keys(await subjectCounts(jsm, ALL_SUBJECTS))) {
    const run = typeOfSubject(subject)?.run;
    if (run !== undefined) runs.add(run);
  }
  const lastSeq = new Map<string, number>();
  for (const run of runs) {
    const msg = await jsm.streams.getMessage(STREAM_NAME, { last_by_subj: runSubjects(run) }).catch(() => null);
    lastSeq.set(run, msg?.seq ?? 0);
  }
  const recentFirst = [...runs].sort((a, b) => (lastSeq.get(b) ?? 0) - (lastSeq.get(a) ?? 0));
  return { runs: recentFirst.slice(0, limit), total: runs.size };
}
