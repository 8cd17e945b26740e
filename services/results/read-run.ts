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

/** A folder given as a run directory that holds no metrics.jsonl. */
export class NotARunDirectoryError extends FleetError {
  constructor(readonly dir: string) {
    super(`${dir} is not a run directory (no ${METRICS_JSONL})`);
  }
}

/** What a run directory says about its run, each file checked against its schema; absent files are null or empty. */
export interface RunFiles {
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

export async function readRunFiles(dir: string): Promise<RunFiles> {
  const configTime = await fileTime(join(dir, CONFIG_JSON));
  const hasMetrics = (await fileTime(join(dir, METRICS_JSONL))) !== null;
  return {
    dir,
    config: configTime ? await readChecked(join(dir, CONFIG_JSON), runConfigRecordSchema) : null,
    configTime,
    hasMetrics,
    metrics: hasMetrics ? await readMetricsLines(dir) : [],
    bestMeta: await readOptional(join(dir, BEST_DIR, META_JSON), bestModelMetaSchema),
  };
}

/** The class names in label order, from config.json or else best/meta.json. */
export function runClassNames(run: RunFiles): string[] {
  const names = run.config?.data.classNames ?? run.bestMeta?.classNames;
  if (!names) throw new FleetError(`${run.dir}: neither ${CONFIG_JSON} nor ${BEST_DIR}/${META_JSON} names the classes`);
  return names;
}

async function fileTime(path: string): Promise<Date | null> {
  try {
    return (await stat(path)).mtime;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function readOptional<S extends z.ZodTypeAny>(file: string, schema: S): Promise<z.infer<S> | null> {
  return (await fileTime(file)) === null ? null : readChecked(file, schema);
}

async function readChecked<S extends z.ZodTypeAny>(file: string, schema: S): Promise<z.infer<S>> {
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
