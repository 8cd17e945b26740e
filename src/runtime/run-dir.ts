import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recoverDirectory } from './atomic-dir.js';
import { writeFileAtomic } from './atomic-file.js';
import { makeDirectories } from './out-dir.js';

export const CONFIG_JSON = 'config.json';
export const METRICS_JSONL = 'metrics.jsonl';
export const BEST_DIR = 'best';

/** A line of metrics.jsonl as the files see it: a JSON object keyed by its epoch. */
export type EpochLine = { epoch: number; [field: string]: unknown };

/**
 * A run's folder, the files only: config.json, metrics.jsonl (a JSON object a
 * line, one per epoch), best/, and other JSON files. What goes into them is
 * the run record's (src/training/run-record).
 */
export interface RunDir {
  path: string;
  bestDir: string;
  /**
   * Writes the line of `line.epoch`, replacing one already there: a resumed
   * run, or an evaluator given a checkpoint again, writes an epoch's line
   * again and must not leave two. metrics.jsonl is rewritten atomically, so a
   * reader never sees a torn line. When the write fails (a full disk) the file
   * stays as it was and the line is kept in memory: the next write adds it.
   */
  putMetricsLine(line: EpochLine): Promise<void>;
  /**
   * Keeps only the metrics lines of epochs before `epoch`: a run resumed from
   * a checkpoint taken before an epoch's end trains that epoch again, and a
   * line the crashed process wrote for it must not stay beside the new one.
   */
  keepMetricsBefore(epoch: number): Promise<void>;
  /** Any JSON file of the run, written atomically. */
  writeJson(name: string, value: unknown): Promise<void>;
}

/** Creates the folder if needed: call checkOutDir (src/runtime/out-dir.ts) first, before loading data or binding ports. */
export async function openRunDir(path: string): Promise<RunDir> {
  await makeDirectories(path);
  // A writer killed in the middle of replacing best/ left the previous one aside.
  await recoverDirectory(join(path, BEST_DIR));
  const metricsPath = join(path, METRICS_JSONL);
  // Lines whose write failed (a full disk): the next rewrite carries them, so a later epoch's write retries them.
  let unwritten: EpochLine[] = [];
  const rewrite = async (keep: (epoch: number) => boolean, add: EpochLine[]) => {
    const text = await readIfExists(metricsPath);
    const addEpochs = new Set(add.map((l) => l.epoch));
    const carried = unwritten.filter((l) => keep(l.epoch) && !addEpochs.has(l.epoch));
    const carriedEpochs = new Set(carried.map((l) => l.epoch));
    const onDisk = parseEpochLines(text).filter((l) => keep(l.epoch) && !carriedEpochs.has(l.epoch));
    const lines = [...onDisk, ...carried, ...add].sort((a, b) => a.epoch - b.epoch);
    const next = lines.map((l) => `${JSON.stringify(l)}\n`).join('');
    unwritten = [...carried, ...add];
    if (next !== text) await writeFileAtomic(metricsPath, next);
    unwritten = [];
  };
  return {
    path,
    bestDir: join(path, BEST_DIR),
    putMetricsLine: (line) => rewrite((epoch) => epoch !== line.epoch, [line]),
    keepMetricsBefore: (epoch) => rewrite((e) => e < epoch, []),
    writeJson: (name, value) => writeFileAtomic(join(path, name), `${JSON.stringify(value, null, 2)}\n`),
  };
}

async function readIfExists(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** The lines that are JSON objects with a numeric epoch; a torn line (a crash of an older writer) is dropped. */
function parseEpochLines(text: string): EpochLine[] {
  const lines: EpochLine[] = [];
  for (const line of text.split('\n')) {
    try {
      const value = JSON.parse(line) as { epoch?: unknown };
      if (typeof value === 'object' && value !== null && typeof value.epoch === 'number') lines.push(value as EpochLine);
    } catch {
      // torn or blank
    }
  }
  return lines;
}

/** Where a run goes without --out. */
export const RUNS_DIR = 'runs';

/**
 * A run id that sorts by time and names the model: 20261128-151400-cnn-3fa2.
 * Never one whose runs/<id> exists (`taken`): a default --out must not land in an earlier run.
 */
export function newRunId(model: string, now = new Date(), taken: (id: string) => boolean = (id) => existsSync(join(RUNS_DIR, id))): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  for (let tries = 0; ; tries++) {
    // Four hex digits, eight once those look crowded.
    const digits = tries < 64 ? 4 : 8;
    const suffix = Math.floor(Math.random() * 16 ** digits)
      .toString(16)
      .padStart(digits, '0');
    const id = `${stamp}-${model}-${suffix}`;
    if (!taken(id)) return id;
  }
}
