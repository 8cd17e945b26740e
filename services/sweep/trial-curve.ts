import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { METRICS_JSONL } from '../../src/runtime/run-dir.js';
import { readMetricsLines, type MetricsLine } from '../../src/training/run-record/index.js';
import type { SweepRecord, TrialRecord } from '../../src/training/run-record/sweep-record.js';

export type CurvePoint = TrialRecord['curve'][number];
export type SweepMetric = SweepRecord['metric'];

/**
 * A trial's curve as its run directory holds it: the metric of each line of
 * metrics.jsonl (written atomically, one line an epoch; a resumed trial
 * rewrites it), so the file is the one source for the live driver and for
 * a resumed one.
 */
export async function readCurve(runDir: string, metric: SweepMetric): Promise<CurvePoint[]> {
  let lines: MetricsLine[];
  try {
    lines = await readMetricsLines(runDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return lines.map((l) => ({ epoch: l.epoch, value: l[metric] }));
}

/** The best point (the earliest of equal values), or null for an empty curve. */
export function bestOf(curve: readonly CurvePoint[]): CurvePoint | null {
  let best: CurvePoint | null = null;
  for (const p of curve) if (best === null || p.value > best.value) best = p;
  return best === null ? null : { ...best };
}

/**
 * Watches one trial's metrics.jsonl by polling its size and time (cheap: one
 * stat) and calls `onCurve` with the whole curve whenever it changed.
 */
export function followCurve(
  runDir: string,
  metric: SweepMetric,
  onCurve: (curve: CurvePoint[]) => Promise<void> | void,
  pollMs = 100,
): { stop(): Promise<void>; check(): Promise<void> } {
  const file = join(runDir, METRICS_JSONL);
  let last = '';
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const check = (): Promise<void> => {
    running = running
      .catch(() => {})
      .then(async () => {
        const s = await stat(file).catch(() => null);
        const key = s === null ? '' : `${s.size}:${s.mtimeMs}:${s.ino}`;
        if (key === last) return;
        last = key;
        await onCurve(await readCurve(runDir, metric));
      });
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) check().catch(() => {});
  }, pollMs);
  return {
    check,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running.catch(() => {});
    },
  };
}
