import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BATCHES_DIR_NAME } from './cifar10-format.js';

/**
 * The folder the official tarball extracts to, for a user-given `dir`: the
 * `cifar-10-batches-bin/` child of it, unless `dir` already is that folder.
 * The downloader installs here and the install hint names it.
 */
export function canonicalBatchesDir(dir: string): string {
  const abs = resolve(dir);
  return basename(abs) === BATCHES_DIR_NAME ? abs : join(abs, BATCHES_DIR_NAME);
}

/** The parent to extract the tarball into so that it lands in canonicalBatchesDir(dir). */
export function extractParentDir(dir: string): string {
  return dirname(canonicalBatchesDir(dir));
}

/**
 * The folder holding the .bin files: `dir/cifar-10-batches-bin/` if it exists
 * (so a download into a folder that held loose files wins), else `dir` itself.
 */
export async function resolveBatchesDir(dir: string): Promise<string> {
  const nested = canonicalBatchesDir(dir);
  if (await isDirectory(nested)) return nested;
  return resolve(dir);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
