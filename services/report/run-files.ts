import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { META_JSON } from '../../src/model/index.js';
import { FleetError } from '../../src/runtime/errors.js';
import { BEST_DIR, CONFIG_JSON, METRICS_JSONL } from '../../src/runtime/run-dir.js';
import {
  bestModelMetaSchema,
  readMetricsLines,
  RunRecordError,
  runConfigRecordSchema,
  type BestModelMeta,
  type MetricsLine,
  type RunConfigRecord,
} from '../../src/training/run-record/index.js';

/** What a run directory holds for its report, each file checked against its schema. */
export interface RunFiles {
  dir: string;
  config: RunConfigRecord | null;
  /** At least one line: a run without a scored epoch has nothing to report. */
  metrics: MetricsLine[];
  bestDir: string;
  bestMeta: BestModelMeta | null;
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
  if (!(await exists(join(dir, METRICS_JSONL)))) {
    throw new FleetError(`${dir} is not a run directory (no ${METRICS_JSONL})`);
  }
  const metrics = await readMetricsLines(dir);
  if (metrics.length === 0) throw new FleetError(`${join(dir, METRICS_JSONL)} has no epoch yet: nothing to report`);
  const bestDir = join(dir, BEST_DIR);
  return {
    dir,
    config: await readOptional(join(dir, CONFIG_JSON), runConfigRecordSchema),
    metrics,
    bestDir,
    bestMeta: await readOptional(join(bestDir, META_JSON), bestModelMetaSchema),
  };
}

async function readOptional<S extends z.ZodTypeAny>(file: string, schema: S): Promise<z.infer<S> | null> {
  if (!(await exists(file))) return null;
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new RunRecordError(file, (err as Error).message);
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data as z.infer<S>;
  const issue = result.error.issues[0];
  throw new RunRecordError(file, issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid');
}
