import { FleetError } from '../runtime/errors.js';
import { resolveBatchesDir } from './data-dir.js';
import { MissingDataFilesError } from './errors.js';
import { findSplitFiles } from './split-files.js';

export interface InstallState {
  ok: boolean;
  /** Where the loader would look. */
  batchesDir: string;
  /** Why not ok, short enough for a log line. */
  problem?: string;
}

/**
 * Whether `dir` already holds usable files, judged by names and sizes only
 * (reading 180 MB to check labels is the loader's job). Train needs all
 * five batches unless `allowPartial`; test_batch.bin is always needed.
 */
export async function checkCifar10Files(dir: string, allowPartial = false): Promise<InstallState> {
  const batchesDir = await resolveBatchesDir(dir);
  try {
    await findSplitFiles(batchesDir, 'train', allowPartial);
    await findSplitFiles(batchesDir, 'test', allowPartial);
    return { ok: true, batchesDir };
  } catch (err) {
    if (err instanceof MissingDataFilesError) return { ok: false, batchesDir, problem: `missing ${err.missing.join(', ')}` };
    if (err instanceof FleetError) return { ok: false, batchesDir, problem: err.message };
    throw err;
  }
}

/**
 * The loader's own refusal (files missing, or of the wrong size) without
 * reading a record: for the launcher, which loads nothing itself but must not
 * start a cluster whose every process would fail on the same files.
 */
export async function requireCifar10Files(dir: string, allowPartial: boolean): Promise<void> {
  const batchesDir = await resolveBatchesDir(dir);
  await findSplitFiles(batchesDir, 'train', allowPartial);
  await findSplitFiles(batchesDir, 'test', allowPartial);
}
