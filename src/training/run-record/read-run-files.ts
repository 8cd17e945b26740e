import { join } from 'node:path';
import { META_JSON } from '../../model/index.js';
import { FleetError } from '../../runtime/errors.js';
import { BEST_DIR, CONFIG_JSON, METRICS_JSONL } from '../../runtime/run-dir.js';
import { bestModelMetaSchema, type BestModelMeta } from './best-model-meta.js';
import type { MetricsLine } from './metrics-line.js';
import { fileTime, readOptionalRecordFile, readRecordFile } from './read-record-file.js';
import { runConfigRecordSchema, type RunConfigRecord } from './run-config-record.js';
import { readMetricsLines } from './run-record.js';

/** A folder given as a run directory that holds no metrics.jsonl. */
export class NotARunDirectoryError extends FleetError {
  constructor(readonly dir: string) {
    super(`${dir} is not a run directory (no ${METRICS_JSONL})`);
  }
}

/** What a run directory says about its run, each file checked against its schema; absent files are null or empty. */
export interface RunDirectoryFiles {
  dir: string;
  config: RunConfigRecord | null;
  /** When config.json was written: the run's start (it is not rewritten on --resume). */
  configTime: Date | null;
  hasMetrics: boolean;
  metrics: MetricsLine[];
  bestMeta: BestModelMeta | null;
}

/** True when `dir` holds a run's config.json or metrics.jsonl. */
export async function isRunDirectory(dir: string): Promise<boolean> {
  const found = await Promise.all([CONFIG_JSON, METRICS_JSONL].map((f) => fileTime(join(dir, f))));
  return found.some((t) => t !== null);
}

/** config.json, metrics.jsonl and best/meta.json of `dir`, for the commands that read finished or running runs. */
export async function readRunDirectory(dir: string): Promise<RunDirectoryFiles> {
  const configTime = await fileTime(join(dir, CONFIG_JSON));
  const hasMetrics = (await fileTime(join(dir, METRICS_JSONL))) !== null;
  return {
    dir,
    config: configTime ? await readRecordFile(join(dir, CONFIG_JSON), runConfigRecordSchema) : null,
    configTime,
    hasMetrics,
    metrics: hasMetrics ? await readMetricsLines(dir) : [],
    bestMeta: await readOptionalRecordFile(join(dir, BEST_DIR, META_JSON), bestModelMetaSchema),
  };
}
