import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FleetError } from '../../runtime/errors.js';
import { isRunDirectory, readRunDirectory, type RunDirectoryFiles } from './read-run-files.js';

/** Folders inside a run that are never runs themselves. */
const RUN_SUBFOLDERS = new Set(['best', 'logs', 'nats']);
/** How deep below the listed folder runs are looked for (runs/<id>/ is one). */
const MAX_DEPTH = 3;

export type RunStatus = 'finished' | 'incomplete' | 'unreadable';

/** One run found below a folder: a line of `fleet runs`, a row of `fleet dashboard`'s list. */
export interface RunRow {
  dir: string;
  id: string;
  model: string | null;
  workers: number | null;
  epochsDone: number;
  epochsPlanned: number | null;
  /** The best test accuracy of its epochs, a fraction. */
  bestAccuracy: number | null;
  status: RunStatus;
  started: Date | null;
  /** Why an unreadable run could not be read (a malformed file, named). */
  problem?: string;
}

/** Every run directory below `root` (or `root` itself), oldest first. */
export async function listRuns(root: string): Promise<RunRow[]> {
  let dirs: string[];
  try {
    dirs = await findRunDirectories(root, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new FleetError(`${root} is not a folder of runs (${code})`);
    throw err;
  }
  const rows = await Promise.all(dirs.map(runRow));
  return rows.sort((a, b) => (a.started?.getTime() ?? 0) - (b.started?.getTime() ?? 0) || a.dir.localeCompare(b.dir));
}

async function findRunDirectories(dir: string, depth: number): Promise<string[]> {
  if (await isRunDirectory(dir)) return [dir];
  if (depth >= MAX_DEPTH) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  const below = await Promise.all(
    entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !RUN_SUBFOLDERS.has(e.name))
      .map((e) => findRunDirectories(join(dir, e.name), depth + 1)),
  );
  return below.flat();
}

async function runRow(dir: string): Promise<RunRow> {
  let run: RunDirectoryFiles;
  try {
    run = await readRunDirectory(dir);
  } catch (err) {
    return {
      dir,
      id: basename(dir),
      model: null,
      workers: null,
      epochsDone: 0,
      epochsPlanned: null,
      bestAccuracy: null,
      status: 'unreadable',
      started: null,
      problem: (err as Error).message,
    };
  }
  const config = run.config?.config;
  const last = run.metrics.at(-1);
  const firstTime = run.metrics[0]?.time;
  return {
    dir,
    id: config?.runId ?? basename(dir),
    model: config?.model ?? run.bestMeta?.model ?? null,
    workers: config?.workers ?? last?.workers ?? null,
    epochsDone: run.metrics.length,
    epochsPlanned: config?.epochs ?? null,
    bestAccuracy: run.metrics.length > 0 ? Math.max(...run.metrics.map((l) => l.testAccuracy)) : null,
    status: config !== undefined && last?.epoch === config.epochs ? 'finished' : 'incomplete',
    started: run.configTime ?? (firstTime ? new Date(firstTime) : null),
  };
}
