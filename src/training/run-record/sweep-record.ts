import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { checkedRecord, RunRecordError } from './record-error.js';

/** The sweep's state file in SWEEP_DIR: rewritten atomically on every change, so a killed driver resumes from it. */
export const SWEEP_JSON = 'sweep.json';

export const SWEEP_METRICS = ['testAccuracy'] as const;
export const PRUNING_RULES = ['asha', 'median', 'none'] as const;
export const TRIAL_STATUSES = ['pending', 'running', 'finished', 'pruned', 'failed'] as const;
export const SWEEP_STATUSES = ['running', 'finished', 'failed'] as const;

/** The trial param of a spec's `variants` (named configurations): params.variant is the variant's name. */
export const VARIANT_PARAM = 'variant';
/**
 * The trial param of a spec's `ablation`: params.without names the technique
 * removed, ABLATION_REFERENCE the configuration with everything. A technique's
 * contribution is the reference's mean minus the mean without it.
 */
export const ABLATION_PARAM = 'without';
export const ABLATION_REFERENCE = 'none';

const epoch = z.number().int().min(0);
const point = z.object({ epoch, value: z.number() }).strict();
const timestamp = z.string().min(1);
const paramValue = z.union([z.string(), z.number(), z.boolean()]);

export const trialRecordSchema = z
  .object({
    /** t000, t001... in expansion order. */
    id: z.string().regex(/^t\d{3,}$/),
    /** The varied keys only; the rest of the trial's config is the spec's base. */
    params: z.record(z.string(), paramValue),
    seed: z.number().int(),
    repeat: z.number().int().min(0),
    /** The params serialized: equal for the repeats of one configuration. */
    configKey: z.string(),
    status: z.enum(TRIAL_STATUSES),
    /** Relative to SWEEP_DIR: trials/<id>. */
    runDir: z.string().min(1),
    epochsRun: z.number().int().min(0),
    best: point.nullable(),
    /** The metric per epoch, in epoch order (pruning and the report read it). */
    curve: z.array(point),
    prunedAt: z.object({ epoch, rule: z.string(), reason: z.string() }).strict().nullable(),
    error: z.string().nullable(),
    startedAt: timestamp.nullable(),
    endedAt: timestamp.nullable(),
  })
  .strict();

export const sweepRecordSchema = z
  .object({
    format: z.literal(1),
    sweepId: z.string().min(1),
    name: z.string().min(1),
    description: z.string().nullable(),
    specFile: z.string(),
    scale: z.string().nullable(),
    /** Maximised: each trial's best epoch value of this metrics.jsonl field. */
    metric: z.enum(SWEEP_METRICS),
    startedAt: timestamp,
    finishedAt: timestamp.nullable(),
    status: z.enum(SWEEP_STATUSES),
    /** The parameter keys the spec varies. */
    varied: z.array(z.string()),
    pruning: z
      .object({
        rule: z.enum(PRUNING_RULES),
        gracePeriod: z.number().int().min(1),
        reductionFactor: z.number().int().min(2),
      })
      .strict(),
    trials: z.array(trialRecordSchema),
  })
  .strict();

export type TrialRecord = z.infer<typeof trialRecordSchema>;
export type SweepRecord = z.infer<typeof sweepRecordSchema>;
export type TrialStatus = TrialRecord['status'];
export type PruningRule = SweepRecord['pruning']['rule'];

/** A trial as a new sweep records it: pending, nothing run yet. */
export function pendingTrialRecord(t: Pick<TrialRecord, 'id' | 'params' | 'seed' | 'repeat' | 'configKey' | 'runDir'>): TrialRecord {
  return {
    id: t.id,
    params: t.params,
    seed: t.seed,
    repeat: t.repeat,
    configKey: t.configKey,
    status: 'pending',
    runDir: t.runDir,
    epochsRun: 0,
    best: null,
    curve: [],
    prunedAt: null,
    error: null,
    startedAt: null,
    endedAt: null,
  };
}

/** SWEEP_DIR/sweep.json, checked against the schema; a missing or invalid file is a RunRecordError naming it. */
export async function readSweepRecord(dir: string): Promise<SweepRecord> {
  const file = join(dir, SWEEP_JSON);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RunRecordError(file, code === 'ENOENT' ? 'not found (not a sweep directory?)' : (err as Error).message);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RunRecordError(file, `not JSON (${(err as Error).message})`);
  }
  return checkedRecord(sweepRecordSchema, value, file);
}

/** Checks `record` against the schema, then replaces SWEEP_DIR/sweep.json all-or-nothing. */
export async function writeSweepRecord(dir: string, record: SweepRecord): Promise<void> {
  const file = join(dir, SWEEP_JSON);
  const checked = checkedRecord(sweepRecordSchema, record, file);
  await writeFileAtomic(file, `${JSON.stringify(checked, null, 2)}\n`);
}
