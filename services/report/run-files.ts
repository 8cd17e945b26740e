import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FleetError } from '../../src/runtime/errors.js';
import { BEST_DIR, METRICS_JSONL } from '../../src/runtime/run-dir.js';
import { NotARunDirectoryError, readRunDirectory, type RunDirectoryFiles } from '../../src/training/run-record/index.js';

/** What a run directory holds for its report, each file checked against its schema. */
export interface RunFiles extends RunDirectoryFiles {
  /** At least one line: a run without a scored epoch has nothing to report. */
  metrics: RunDirectoryFiles['metrics'];
  bestDir: string;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
}

export async function readRunFiles(dir: string): Promise<RunFiles> {
  const run = await readRunDirectory(dir);
  if (!run.hasMetrics) throw new NotARunDirectoryError(dir);
  if (run.metrics.length === 0) throw new FleetError(`${join(dir, METRICS_JSONL)} has no epoch yet: nothing to report`);
  return { ...run, bestDir: join(dir, BEST_DIR) };
}
