import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NUM_CLASSES, STANDARD_CLASS_NAMES } from './cifar10-constants.js';
import { META_FILE } from './cifar10-format.js';
import { ClassNamesError } from './errors.js';

/**
 * Class names from `batchesDir/batches.meta.txt`, one a line in label order.
 * Blank lines are ignored (the official file ends with some). A missing file
 * falls back to the standard names; a wrong count is an error because the
 * labels would then be misnamed silently.
 */
export async function readClassNames(batchesDir: string): Promise<string[]> {
  const file = join(batchesDir, META_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [...STANDARD_CLASS_NAMES];
    throw err;
  }
  const names = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (names.length !== NUM_CLASSES) throw new ClassNamesError(file, names.length, NUM_CLASSES);
  return names;
}
