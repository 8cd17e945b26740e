import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { STANDARD_CLASS_NAMES } from '../../src/dataset/cifar10-constants.js';
import { listRuns, type RunRow } from '../../src/training/run-record/list-runs.js';
import { readRunDirectory } from '../../src/training/run-record/read-run-files.js';
import { readSweepRecord, SWEEP_JSON, type SweepRecord } from '../../src/training/run-record/sweep-record.js';
import type { RunDetail, RunSummary, SweepDetail, SweepSummary } from './api-types.js';

/**
 * Runs and sweeps read from their directories (docs/run-directory.md,
 * SWEEP_DIR/sweep.json) below one folder: what the dashboard shows without
 * NATS, and for runs whose events the stream no longer holds. A directory
 * has no per-round facts: its run's page has epoch curves, the lr at each
 * epoch end, every epoch's score and the last confusion matrix, no workers.
 */

/** How deep below the folder sweep directories are looked for. */
const SWEEP_DEPTH = 2;

export interface DirectoryRun {
  summary: RunSummary;
  dir: string;
}

export interface DirectorySweep {
  summary: SweepSummary;
  dir: string;
}

/** Every run below `root`, keyed by run id (config.json's runId, else the folder's name; a later run of one id wins). */
export async function scanRuns(root: string): Promise<Map<string, DirectoryRun>> {
  const out = new Map<string, DirectoryRun>();
  for (const row of await listRuns(root)) out.set(row.id, { summary: runSummary(row), dir: row.dir });
  return out;
}

function runSummary(row: RunRow): RunSummary {
  return {
    id: row.id,
    source: 'directory',
    model: row.model,
    workers: row.workers,
    status: row.status,
    bestAccuracy: row.bestAccuracy,
    started: row.started?.toISOString() ?? null,
    epochsDone: row.epochsDone,
    epochs: row.epochsPlanned,
  };
}

/** A run's page from its files. */
export async function runDetailFromDirectory(run: DirectoryRun): Promise<RunDetail> {
  const files = await readRunDirectory(run.dir);
  const last = files.metrics.at(-1);
  let best: RunDetail['best'] = null;
  for (const l of files.metrics) {
    if (best === null || l.testAccuracy > best.accuracy)
      best = { version: l.version ?? null, epoch: l.epoch, accuracy: l.testAccuracy, path: null };
  }
  if (files.bestMeta !== null) {
    const m = files.bestMeta;
    best = { version: m.version ?? null, epoch: m.epoch, accuracy: m.accuracy, path: join(run.dir, 'best') };
  }
  return {
    summary: run.summary,
    dir: run.dir,
    curves: files.metrics.map((l) => ({
      epoch: l.epoch,
      trainLoss: l.trainLoss,
      trainAccuracy: l.trainAccuracy,
      testLoss: l.testLoss,
      testAccuracy: l.testAccuracy,
    })),
    lr: files.metrics.map((l) => ({ step: l.step, lr: l.lr })),
    workers: [],
    windowRounds: 0,
    evaluations: files.metrics.map((l) => ({
      version: l.version ?? null,
      epoch: l.epoch,
      epochEnd: true,
      accuracy: l.testAccuracy,
      loss: l.testLoss,
      best: best !== null && best.epoch === l.epoch,
    })),
    best,
    confusion: last
      ? { epoch: last.epoch, version: last.version ?? null, matrix: last.confusion, perClassAccuracy: last.perClassAccuracy }
      : null,
    classNames: files.config?.data.classNames ?? files.bestMeta?.classNames ?? [...STANDARD_CLASS_NAMES],
    progress: {
      epoch: last?.epoch ?? null,
      epochFraction: null,
      globalStep: last?.step ?? null,
      totalSteps: files.config?.plan.totalSteps ?? null,
      imagesPerSecond: last?.imagesPerSecond ?? null,
      etaMs: null,
    },
    finished: null,
  };
}

/** The class names a run's config.json records, or null when there is no readable one. */
export async function classNamesOf(dir: string): Promise<string[] | null> {
  try {
    return (await readRunDirectory(dir)).config?.data.classNames ?? null;
  } catch {
    return null;
  }
}

/** Every sweep directory (one holding sweep.json) below `root`, keyed by sweep id. */
export async function scanSweeps(root: string): Promise<Map<string, DirectorySweep>> {
  const out = new Map<string, DirectorySweep>();
  for (const dir of await sweepDirectories(root, 0)) {
    let record: SweepRecord;
    try {
      record = await readSweepRecord(dir);
    } catch {
      // A sweep.json being rewritten or of another format: left out of the list, not fatal.
      continue;
    }
    out.set(record.sweepId, { summary: sweepSummary(record), dir });
  }
  return out;
}

async function sweepDirectories(dir: string, depth: number): Promise<string[]> {
  if (await isFile(join(dir, SWEEP_JSON))) return [dir];
  if (depth >= SWEEP_DEPTH) return [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const below = await Promise.all(
    entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => sweepDirectories(join(dir, e.name), depth + 1)),
  );
  return below.flat();
}

function sweepSummary(r: SweepRecord): SweepSummary {
  let best: SweepSummary['best'] = null;
  for (const t of r.trials)
    if (t.best !== null && (best === null || t.best.value > best.value)) best = { trial: t.id, value: t.best.value };
  return {
    id: r.sweepId,
    source: 'directory',
    name: r.name,
    metric: r.metric,
    status: r.status,
    trials: r.trials.length,
    best,
    started: r.startedAt,
  };
}

export async function sweepDetailFromDirectory(sweep: DirectorySweep): Promise<SweepDetail> {
  const r = await readSweepRecord(sweep.dir);
  return {
    summary: sweepSummary(r),
    pruning: r.pruning.rule,
    trials: r.trials.map((t) => ({
      trial: t.id,
      params: t.params,
      status: t.status,
      epoch: t.epochsRun > 0 ? t.epochsRun : null,
      best: t.best?.value ?? null,
      pruned: t.prunedAt,
      reason: t.error,
      curve: t.curve,
    })),
  };
}

/** A signature of what the folder holds (each run's and sweep's files' sizes and times): changes when anything is rewritten. */
export async function folderSignature(runs: Map<string, DirectoryRun>, sweeps: Map<string, DirectorySweep>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const sig = async (dir: string, files: string[]): Promise<string> =>
    (
      await Promise.all(
        files.map(async (f) =>
          stat(join(dir, f)).then(
            (s) => `${s.size}:${s.mtimeMs}`,
            () => '-',
          ),
        ),
      )
    ).join('/');
  for (const [id, r] of runs) out.set(`run:${id}`, await sig(r.dir, ['config.json', 'metrics.jsonl']));
  for (const [id, s] of sweeps) out.set(`sweep:${id}`, await sig(s.dir, [SWEEP_JSON]));
  return out;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
