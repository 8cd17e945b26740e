/**
 * The soak run's faults, given as data (a JSON file): what happens to which
 * process, when (from the start of the run) and for how long. Validated in
 * full before anything starts, so a typo costs seconds, not the hour.
 *
 *   { "faults": [
 *       { "at": "3m", "kind": "kill-worker", "worker": 1, "restartAfter": "5s" },
 *       { "at": "8m", "kind": "stop-worker", "worker": 2, "for": "30s" },
 *       { "at": "13m", "kind": "restart-nats", "down": "15s" },
 *       { "at": "18m", "kind": "disk-full", "for": "90s" },
 *       { "at": "23m", "kind": "garbage-worker", "gradient": "sign-flip", "for": "4m" } ] }
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseDuration } from '../../src/runtime/config/value-parsers.js';

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text, 's');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a duration (30s, 500ms, 2m): ${(err as Error).message}` });
    return z.NEVER;
  }
});
const workerIndex = z.number().int().min(0);

const faultSchema = z.discriminatedUnion('kind', [
  /** kill -9 of a worker; restarted after `restartAfter`, as a Deployment would. */
  z.object({ kind: z.literal('kill-worker'), at: duration, worker: workerIndex, restartAfter: duration.default(5000) }).strict(),
  /** SIGSTOP, SIGCONT after `for`: a hung host (evicted after the heartbeat timeout, it registers again). */
  z.object({ kind: z.literal('stop-worker'), at: duration, worker: workerIndex, for: duration }).strict(),
  /** kill -9 of the coordinator; started again with --resume on the same port after `restartAfter`. */
  z.object({ kind: z.literal('kill-coordinator'), at: duration, restartAfter: duration.default(5000) }).strict(),
  /** kill -9 of the evaluator; restarted after `restartAfter` (its state makes it resume). */
  z.object({ kind: z.literal('kill-evaluator'), at: duration, restartAfter: duration.default(5000) }).strict(),
  /** nats-server killed, started again on the same port and store after `down`. */
  z.object({ kind: z.literal('restart-nats'), at: duration, down: duration }).strict(),
  /** The run directory's disk (a tmpfs) filled to the last byte for `for`. */
  z.object({ kind: z.literal('disk-full'), at: duration, for: duration }).strict(),
  /**
   * An extra worker whose uploads are corrupted (FLEET_FAULT_GRADIENT): joins
   * at `at`, stopped after `for` if still running (it should be quarantined;
   * noise:F under the norm factor, clipped).
   */
  z
    .object({
      kind: z.literal('garbage-worker'),
      at: duration,
      gradient: z.string().regex(/^(sign-flip|random|(scale|noise):[0-9.e+-]+)$/, 'sign-flip, random, scale:F or noise:F'),
      for: duration,
    })
    .strict(),
]);

export type Fault = z.infer<typeof faultSchema>;
export type FaultKind = Fault['kind'];

const scheduleSchema = z
  .object({
    description: z.string().optional(),
    faults: z.array(faultSchema),
  })
  .strict();

export interface FaultSchedule {
  description?: string;
  /** Sorted by `at` (ms from the start). */
  faults: Fault[];
}

export class ScheduleError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`fault schedule ${file}: ${message}`);
    this.name = 'ScheduleError';
  }
}

/** Parses a schedule; every problem is listed with its path (faults[3].for: ...). */
export function parseSchedule(text: string, file: string, workers: number): FaultSchedule {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ScheduleError(file, `not JSON: ${(err as Error).message}`);
  }
  const parsed = scheduleSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) =>
        `${i.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
          .join('')
          .replace(/^\./, '')}: ${i.message}`,
    );
    throw new ScheduleError(file, problems.join('; '));
  }
  const faults = [...parsed.data.faults].sort((a, b) => a.at - b.at);
  for (const [i, f] of faults.entries()) {
    if ('worker' in f && f.worker >= workers) {
      throw new ScheduleError(
        file,
        `fault ${i} (${f.kind} at ${f.at / 1000}s) names worker ${f.worker}, but the soak runs ${workers} (0..${workers - 1})`,
      );
    }
  }
  return { ...(parsed.data.description !== undefined ? { description: parsed.data.description } : {}), faults };
}

export async function readSchedule(file: string, workers: number): Promise<FaultSchedule> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ScheduleError(file, `cannot read: ${(err as Error).message}`);
  }
  return parseSchedule(text, file, workers);
}

/** When the schedule's last fault is over (ms from the start). */
export function scheduleEnd(s: FaultSchedule): number {
  return s.faults.reduce((end, f) => Math.max(end, f.at + faultLength(f)), 0);
}

function faultLength(f: Fault): number {
  switch (f.kind) {
    case 'kill-worker':
    case 'kill-coordinator':
    case 'kill-evaluator':
      return f.restartAfter;
    case 'restart-nats':
      return f.down;
    case 'stop-worker':
    case 'disk-full':
    case 'garbage-worker':
      return f.for;
  }
}
