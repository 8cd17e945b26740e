import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { atomicTempPath, fsyncDirectory } from './atomic-file.js';

/** Where the replaced directory waits during a swap; a crash there leaves it for recoverDirectory. */
function previousPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.previous`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Replaces the directory `target` by one that `fill` writes: readers of its
 * files see the whole old set or the whole new set, never model.json of one
 * and meta.json of the other. `fill` writes into a temp directory beside the
 * target; then the target moves aside and the new one takes its name (two
 * renames: POSIX has no atomic exchange of directories). A crash between the
 * renames leaves the old directory under `.NAME.previous`, which
 * recoverDirectory puts back; a crash before them leaves the target as it was.
 */
export async function replaceDirectoryAtomic(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const parent = dirname(target);
  const next = atomicTempPath(target);
  const previous = previousPath(target);
  await mkdir(next, { recursive: true });
  try {
    await fill(next);
    await fsyncDirectory(next);
  } catch (err) {
    await rm(next, { recursive: true, force: true });
    throw err;
  }
  await rm(previous, { recursive: true, force: true });
  const hadTarget = await exists(target);
  if (hadTarget) await rename(target, previous);
  await rename(next, target);
  await fsyncDirectory(parent);
  if (hadTarget) await rm(previous, { recursive: true, force: true });
}

/** Puts back a directory that a crash left moved aside by replaceDirectoryAtomic; true when it did. */
export async function recoverDirectory(target: string): Promise<boolean> {
  const previous = previousPath(target);
  if ((await exists(target)) || !(await exists(previous))) return false;
  await rename(previous, target);
  await fsyncDirectory(dirname(target));
  return true;
}
