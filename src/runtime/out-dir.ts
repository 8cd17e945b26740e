import { constants } from 'node:fs';
import { access, mkdir, readdir, rm, rmdir, stat, statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { FleetError } from './errors.js';
import { FlagError } from './config/flag-error.js';

/**
 * What a run may find in its --out:
 * - new: nothing (an absent or empty folder); anything else is refused;
 * - overwrite: fleet's files of an earlier run, removed before the run writes (clearRunFiles);
 * - resume: the run to continue (its checkpoint is the resume code's business);
 * - shared: another process's run (the evaluator writes beside the coordinator).
 */
export type OutDirMode = 'new' | 'overwrite' | 'resume' | 'shared';

/** The folder a run writes, as checked: what is in it, fleet's and others'. */
export interface OutDirState {
  path: string;
  exists: boolean;
  /** Entries fleet writes (clearRunFiles removes exactly these). */
  runEntries: string[];
  /** Everything else: never touched. */
  otherEntries: string[];
}

/**
 * Every name fleet writes into a run directory: the run record (config.json,
 * metrics.jsonl, best/ and the copy a swap moves aside), the checkpoint, the
 * evaluator's state, the ledger, the launcher's logs/ (and nats/, where older
 * launchers kept their store), and the temporary files of atomic writes of
 * any of them. A writer of a new name adds it here (test/unit/runtime/out-dir
 * holds the services' constants to it).
 */
const RUN_NAMES = new Set([
  'config.json',
  'metrics.jsonl',
  'checkpoint.fleet',
  'best',
  '.best.previous',
  'evaluator-state.json',
  'logs',
  'nats',
]);
const RUN_NAME_PATTERNS = [
  /^applied-epoch-\d+\.json$/,
  // writeFileAtomic's and replaceDirectoryAtomic's temporary names: .NAME.PID.HEX.tmp
  /^\.(config\.json|metrics\.jsonl|best|checkpoint\.fleet|evaluator-state\.json|applied-epoch-\d+\.json)\.\d+\.[0-9a-f]+\.tmp$/,
];

/** True for a name fleet writes into a run directory. */
export function isRunEntry(name: string): boolean {
  return RUN_NAMES.has(name) || RUN_NAME_PATTERNS.some((p) => p.test(name));
}

/** The --out refused: exit 2, nothing written. */
export class OutDirError extends FlagError {
  constructor(
    flag: string,
    readonly path: string,
    sentence: string,
    options?: { cause?: unknown },
  ) {
    super(flag, path, sentence, options);
  }
}

/** A folder could not be made although its checks passed (a race, a full disk): the run failed, exit 1. */
export class DirectoryCreateError extends FleetError {
  constructor(
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot create the folder ${path}: ${reason}`, options);
  }
}

// statfs types of file systems that hold no user files: writing there fails (or, for /proc, mkdir loops).
const VIRTUAL_FILE_SYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
]);

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The first few names, for a message: fleet's best known first, then by name. */
function listed(names: readonly string[], max = 4): string {
  const known = [...RUN_NAMES];
  const rank = (n: string) => (known.includes(n) ? known.indexOf(n) : known.length);
  const sorted = [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return sorted.length > max ? `${sorted.slice(0, max).join(', ')}...` : sorted.join(', ');
}

/** The deepest existing ancestor of `path` (or path itself), or the file that stands where a folder should be. */
async function nearestExisting(path: string): Promise<{ path: string; isDirectory: boolean }> {
  let current = resolve(path);
  for (;;) {
    try {
      const s = await stat(current);
      return { path: current, isDirectory: s.isDirectory() };
    } catch (err) {
      const c = code(err);
      if (c !== 'ENOENT' && c !== 'ENOTDIR') throw err;
      const parent = dirname(current);
      if (parent === current) throw err;
      current = parent;
    }
  }
}

/**
 * Checks a run's --out before anything is loaded, bound or written, and
 * reads nothing but metadata: the path must be (or be creatable as) a
 * writable folder on a real file system, and hold what `mode` allows.
 * Throws OutDirError naming the flag; writes nothing.
 */
export async function checkOutDir(path: string, o: { mode: OutDirMode; flag?: string }): Promise<OutDirState> {
  const flag = o.flag ?? '--out';
  const refuse = (sentence: string, cause?: unknown) =>
    new OutDirError(flag, path, `${flag} ${path} ${sentence}`, cause === undefined ? undefined : { cause });
  let found: { path: string; isDirectory: boolean };
  try {
    found = await nearestExisting(path);
  } catch (err) {
    throw refuse(`cannot be reached (${code(err) ?? (err as Error).message}): choose another ${flag}`, err);
  }
  const exists = found.path === resolve(path);
  if (!found.isDirectory) {
    throw refuse(exists ? `is a file, not a folder: choose another ${flag}` : `is under a file (${found.path}): choose another ${flag}`);
  }
  const fsType = VIRTUAL_FILE_SYSTEMS.get(Number((await statfs(found.path)).type));
  if (fsType !== undefined) {
    throw refuse(`is on a virtual file system (${fsType}), where a run's files cannot be written: choose another ${flag}`);
  }
  try {
    await access(found.path, constants.W_OK | constants.X_OK);
  } catch (err) {
    const where = exists ? 'is not writable' : `cannot be created: ${found.path} is not writable`;
    throw refuse(`${where} (${code(err) ?? (err as Error).message}): choose another ${flag}`, err);
  }
  if (!exists) return { path, exists: false, runEntries: [], otherEntries: [] };
  const entries = await readdir(path);
  const runEntries = entries.filter(isRunEntry);
  const otherEntries = entries.filter((e) => !isRunEntry(e));
  if (o.mode === 'new' && runEntries.length > 0) {
    throw refuse(
      `already holds a run (${listed(runEntries)}): pass --resume to continue it or --overwrite to replace it, or choose another ${flag}`,
    );
  }
  if (o.mode === 'new' && otherEntries.length > 0) {
    throw refuse(
      `is not empty (${listed(otherEntries)}): a run starts in a new or empty folder; pass --overwrite to write beside these files (they are kept), or choose another ${flag}`,
    );
  }
  return { path, exists: true, runEntries, otherEntries };
}

/**
 * Removes what an earlier run left in `path` (--overwrite): fleet's own
 * entries only (isRunEntry), never anything else of the folder. Returns the
 * names removed.
 */
export async function clearRunFiles(path: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (err) {
    if (code(err) === 'ENOENT') return [];
    throw err;
  }
  const removed = entries.filter(isRunEntry);
  for (const name of removed) await rm(join(path, name), { recursive: true, force: true });
  return removed;
}

/**
 * Creates `path` and any missing parents, one level at a time, and returns
 * the folders it created, outermost first (for a caller that removes them
 * again when it fails). `mkdir -p` on a path under /proc loops forever in
 * Node (ENOENT, retried on the parent); a failure here names the path and why.
 */
export async function makeDirectories(path: string): Promise<string[]> {
  const missing: string[] = [];
  let current = resolve(path);
  for (;;) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(current)).isDirectory();
    } catch (err) {
      if (code(err) !== 'ENOENT') throw new DirectoryCreateError(path, (err as Error).message, { cause: err });
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
      continue;
    }
    if (!isDirectory) throw new DirectoryCreateError(path, `${current} is a file`);
    break;
  }
  const created: string[] = [];
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir);
      created.push(dir);
    } catch (err) {
      // Another process made it meanwhile: fine.
      if (code(err) === 'EEXIST' && (await stat(dir)).isDirectory()) continue;
      throw new DirectoryCreateError(path, (err as Error).message, { cause: err });
    }
  }
  return created;
}

/** Removes folders makeDirectories created, innermost first, as long as they are empty (anything put there since stays). */
export async function removeCreatedDirectories(created: readonly string[]): Promise<void> {
  for (const dir of [...created].reverse()) {
    try {
      await rmdir(dir);
    } catch {
      return; // not empty (or gone): its parents are not empty either
    }
  }
}
