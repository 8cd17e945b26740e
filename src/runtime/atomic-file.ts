import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temp files are dot-files ending in .tmp next to their target, so a crash leaves nothing a reader would pick up. */
export function atomicTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** True for names written by writeFileAtomic before the rename (e.g. leftovers of a crash). */
export function isAtomicTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/** fsync a directory so a rename inside it survives power loss. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replace `path` with `data` all-or-nothing: readers see the old content or the
 * new, never a torn file. Write + fsync a temp file in the same folder (rename
 * is atomic only within a filesystem), rename it over `path`, fsync the folder.
 * On failure the temp file is removed and `path` is untouched.
 * `syncDirectory: false` lets a caller writing several files fsync the folder once.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { syncDirectory?: boolean } = {}): Promise<void> {
  const temp = atomicTempPath(path);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (options.syncDirectory ?? true) await fsyncDirectory(dirname(path));
}
