import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { requireCifar10Files } from '../../src/dataset/index.js';
import { assertRunId, isRunId } from '../../src/events/index.js';
import { FlagError } from '../../src/runtime/config/flag-error.js';
import type { ServiceIo } from '../../src/runtime/config/service-io.js';
import type { Logger } from '../../src/runtime/logger.js';
import { checkOutDir, OutDirError } from '../../src/runtime/out-dir.js';
import { allowedCpus } from '../../src/runtime/allowed-cpus.js';
import { availableParallelism } from 'node:os';
import {
  pendingTrialRecord,
  readSweepRecord,
  SWEEP_JSON,
  writeSweepRecord,
  type SweepRecord,
} from '../../src/training/run-record/sweep-record.js';
import { planSlots } from './cpu-budget.js';
import { openSweepEvents } from './sweep-events.js';
import { runSweep, trialConfigPath, trialRunId, trialsDirOf } from './sweep-driver.js';
import { SweepState } from './sweep-state.js';
import { checkRunnable, loadSweepSpec, type SweepSpec } from './sweep-spec.js';
import { configYaml, expandTrials, variedKeys, type PlannedTrial } from './search-space.js';
import { createPruner } from './pruners.js';
import { writeSweepResults } from './sweep-results.js';

/** `fleet sweep`'s inputs, validated by the CLI. */
export interface SweepCommandOptions {
  specFile: string;
  /** --out, or null: sweeps/<sweep id>. */
  out: string | null;
  scale: string | null;
  set: readonly string[];
  /** --parallel, or null: the spec's. */
  parallel: number | null;
  gpus: string[] | null;
  io: ServiceIo;
  /** --data-dir for every trial, or null (the spec's dataDir, else fleet train's default). */
  dataDir: string | null;
  /** fleet train's default data folder (when neither --data-dir nor the spec names one). */
  defaultDataDir: string;
  sweepId: string | null;
  resume: boolean;
  /** Only the first N trials of the expansion (smoke runs), or null. */
  maxTrials: number | null;
  stopGraceMs: number;
  log: Logger;
}

/** Where sweeps go without --out. */
export const SWEEPS_DIR = 'sweeps';

/**
 * `fleet sweep SPEC`: a new sweep (the spec expanded into trials, each
 * trial's config written to SWEEP_DIR/trials/<id>.yaml, sweep.json with every
 * trial pending) or, with --resume, the one in --out, then the driver.
 * Everything the command line may get wrong is refused (exit 2) before
 * anything is written.
 */
export async function runSweepCommand(o: SweepCommandOptions): Promise<Readonly<SweepRecord>> {
  const { log } = o;
  if (o.resume && o.out === null) throw new FlagError('--resume', true, '--resume continues the sweep in --out: pass --out SWEEP_DIR');
  const started = o.resume ? await resumeSweep(o) : await newSweep(o);
  const { spec, dir, record } = started;
  const toRun = record.trials.filter((t) => t.status === 'pending' || t.status === 'running').length;
  const slots = planSlots({
    parallel: o.parallel ?? spec.parallel,
    workersPerTrial: spec.workersPerTrial,
    cpus: allowedCpus()?.length ?? availableParallelism(),
    gpus: o.gpus,
    trials: toRun,
  });
  for (const note of slots.notes) log.warn({ asked: o.parallel ?? spec.parallel }, note);
  const state = new SweepState(dir, record);
  const events = await openSweepEvents({ io: o.io, sweepId: record.sweepId, log });
  try {
    return await runSweep({
      dir,
      state,
      slots,
      workersPerTrial: spec.workersPerTrial,
      dataDir: o.dataDir,
      pruner: record.pruning.rule === 'none' ? null : createPruner(record.pruning),
      writeResults: (r) => writeSweepResults(dir, r),
      events,
      log,
      stopGraceMs: o.stopGraceMs,
    });
  } finally {
    await events.close();
  }
}

interface Started {
  spec: SweepSpec;
  dir: string;
  record: SweepRecord;
}

async function newSweep(o: SweepCommandOptions): Promise<Started> {
  const spec = await loadSweepSpec(o.specFile, { scale: o.scale, set: o.set });
  checkRunnable(spec);
  let trials: PlannedTrial[] = expandTrials(spec);
  if (o.maxTrials !== null && trials.length > o.maxTrials) {
    o.log.info({ trials: trials.length, maxTrials: o.maxTrials }, `--max-trials: only the first ${o.maxTrials} trials run`);
    trials = trials.slice(0, o.maxTrials);
  }
  const sweepId = o.sweepId ?? newSweepId(spec.name);
  checkSweepId(sweepId, trials);
  const dir = o.out ?? join(SWEEPS_DIR, sweepId);
  await checkSweepOut(dir);
  // Every trial would fail on missing data: said once, before anything is written.
  const first = trials[0]?.config ?? spec.base;
  if (first.download !== true) {
    const dataDir = o.dataDir ?? (typeof first.dataDir === 'string' ? first.dataDir : o.defaultDataDir);
    await requireCifar10Files(dataDir, first.allowPartial === true);
  }

  await mkdir(trialsDirOf(dir), { recursive: true });
  for (const t of trials) {
    await writeFile(
      trialConfigPath(dir, t.id),
      configYaml(t.config, [
        `sweep ${sweepId} (${spec.file}${spec.scale ? `, scale ${spec.scale}` : ''}), trial ${t.id}: ${JSON.stringify(t.params)} seed ${t.seed}`,
        `fleet sweep runs it as: fleet train --config ${trialConfigPath(dir, t.id)} --out ${join(dir, 'trials', t.id)} --run-id ${trialRunId(sweepId, t.id)} ...`,
      ]),
    );
  }
  const record: SweepRecord = {
    format: 1,
    sweepId,
    name: spec.name,
    description: spec.description,
    specFile: spec.file,
    scale: spec.scale,
    metric: spec.metric,
    startedAt: new Date().toISOString(),
    finishedAt: null,
    status: 'running',
    varied: variedKeys(spec),
    pruning: spec.pruning,
    trials: trials.map((t) => pendingTrialRecord({ ...t, runDir: relative(dir, join(dir, 'trials', t.id)) })),
  };
  await writeSweepRecord(dir, record);
  o.log.info({ sweep: sweepId, dir, trials: trials.length, spec: spec.file, scale: spec.scale }, 'sweep created');
  return { spec, dir, record };
}

async function resumeSweep(o: SweepCommandOptions): Promise<Started> {
  const dir = o.out!;
  await checkOutDir(dir, { mode: 'shared' });
  let record: SweepRecord;
  try {
    record = await readSweepRecord(dir);
  } catch (err) {
    throw new OutDirError('--out', dir, `--resume: --out ${dir} holds no sweep to continue (${(err as Error).message})`, { cause: err });
  }
  const ignored = [
    ...(o.scale !== null && o.scale !== record.scale ? ['--scale'] : []),
    ...(o.set.length > 0 ? ['--set'] : []),
    ...(o.maxTrials !== null ? ['--max-trials'] : []),
    ...(o.sweepId !== null && o.sweepId !== record.sweepId ? ['--sweep-id'] : []),
  ];
  if (ignored.length > 0) {
    o.log.warn(
      { ignored },
      `--resume: the trials and their configs are the sweep's own (${SWEEP_JSON}, trials/*.yaml): ${ignored.join(', ')} ignored`,
    );
  }
  // The spec as the sweep ran it: its scale gives parallel and workersPerTrial.
  const spec = await loadSweepSpec(o.specFile, { scale: record.scale });
  if (spec.name !== record.name) {
    throw new FlagError('--resume', true, `--resume: ${o.specFile} is sweep ${spec.name}, --out ${dir} holds sweep ${record.name}`);
  }
  o.log.info(
    { sweep: record.sweepId, dir, counts: countBy(record.trials.map((t) => t.status)) },
    'sweep resumed: ended trials stay, running ones continue from their checkpoints, pending ones start',
  );
  return { spec, dir, record };
}

/** A new sweep's folder must be new or empty (a sweep is continued with --resume). */
async function checkSweepOut(dir: string): Promise<void> {
  const state = await checkOutDir(dir, { mode: 'shared' });
  if (!state.exists) return;
  const entries = await readdir(dir);
  if (entries.length === 0) return;
  const holds = entries.includes(SWEEP_JSON) ? 'already holds a sweep' : 'is not empty';
  const shown = entries.slice(0, 4).join(', ') + (entries.length > 4 ? '...' : '');
  throw new OutDirError('--out', dir, `--out ${dir} ${holds} (${shown}): pass --resume to continue it, or choose another --out`);
}

/** <name>-<yyyymmdd-hhmmss>-<4 hex>. */
export function newSweepId(name: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `${name}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The sweep id is an event subject token, and so is each trial's run id (<sweep id>-<trial id>). */
export function checkSweepId(sweepId: string, trials: readonly PlannedTrial[]): void {
  const longest = trials.reduce((id, t) => (t.id.length > id.length ? t.id : id), 't000');
  if (!isRunId(sweepId) || !isRunId(trialRunId(sweepId, longest))) {
    throw new FlagError(
      '--sweep-id',
      sweepId,
      `--sweep-id ${JSON.stringify(sweepId)}: expected letters, digits, - and _, short enough that ${trialRunId(sweepId, longest)} stays within 100 characters`,
    );
  }
  assertRunId(sweepId);
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
