import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RECORD_BYTES, TEST_FILE, TRAIN_FILES, type Cifar10SplitName } from './cifar10-format.js';
import { Cifar10FileSizeError, MissingDataFilesError } from './errors.js';

/** A batch file that exists and holds a whole, non-zero number of records. */
export interface BatchFile {
  name: string;
  path: string;
  size: number;
  records: number;
}

/** The file names a split is made of, in load order. */
export function splitFileNames(split: Cifar10SplitName): readonly string[] {
  return split === 'train' ? TRAIN_FILES : [TEST_FILE];
}

/**
 * Finds a split's files in `batchesDir` and checks their sizes, before any
 * byte is read, so a bad folder fails fast and names every missing file.
 * Train needs all five data_batch_N.bin unless `allowPartial`, then at least one.
 *
 * @throws MissingDataFilesError, Cifar10FileSizeError
 */
export async function findSplitFiles(batchesDir: string, split: Cifar10SplitName, allowPartial: boolean): Promise<BatchFile[]> {
  const names = splitFileNames(split);
  const found = await Promise.all(names.map((name) => statBatchFile(batchesDir, name)));
  const present = found.filter((f): f is BatchFile => f !== undefined);
  const missing = names.filter((_, i) => found[i] === undefined);
  const partialOk = split === 'train' && allowPartial && present.length > 0;
  if (missing.length > 0 && !partialOk) {
    throw new MissingDataFilesError(
      batchesDir,
      split,
      missing,
      present.map((f) => f.name),
    );
  }
  return present;
}

/** undefined when absent; throws Cifar10FileSizeError when not whole records. */
export async function statBatchFile(batchesDir: string, name: string): Promise<BatchFile | undefined> {
  const path = join(batchesDir, name);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) return undefined;
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (size === 0 || size % RECORD_BYTES !== 0) throw new Cifar10FileSizeError(path, size);
  return { name, path, size, records: size / RECORD_BYTES };
}
