import { readFile } from 'node:fs/promises';
import { IMAGE_BYTES, type Cifar10SplitName } from './cifar10-format.js';
import { resolveBatchesDir } from './data-dir.js';
import { decodeRecords } from './decode-records.js';
import { Cifar10FileSizeError, Cifar10OptionError } from './errors.js';
import { findSplitFiles } from './split-files.js';

/**
 * One split in memory. `images` is N x 32 x 32 x 3 uint8, HWC per image
 * (NHWC overall), so a batch slice becomes a tensor as is; uint8 keeps the
 * 50,000 training images at 150 MB instead of 600 MB as float32.
 */
export interface Cifar10Split {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** Absolute paths of the files the records came from, in order. */
  files: string[];
}

export interface LoadSplitOptions {
  /** The folder holding the .bin files, or its parent holding cifar-10-batches-bin/. */
  dir: string;
  split: Cifar10SplitName;
  /** Train only: use whichever data_batch_N.bin exist instead of requiring all five. */
  allowPartial: boolean;
  /** Keep only the first `limit` records (in file order); must be an integer >= 1. */
  limit?: number | undefined;
}

/**
 * Reads a split, checking every file's size and every loaded label.
 * Each file is read whole and decoded in one pass into one preallocated buffer.
 *
 * @throws MissingDataFilesError, Cifar10FileSizeError, InvalidLabelError, Cifar10OptionError
 */
export async function loadCifar10Split(options: LoadSplitOptions): Promise<Cifar10Split> {
  const { split, allowPartial, limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new Cifar10OptionError('limit', limit, 'an integer >= 1');
  }
  const batchesDir = await resolveBatchesDir(options.dir);
  const batchFiles = await findSplitFiles(batchesDir, split, allowPartial);
  const available = batchFiles.reduce((sum, f) => sum + f.records, 0);
  const count = Math.min(available, limit ?? Infinity);

  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  const files: string[] = [];
  let at = 0;
  for (const file of batchFiles) {
    if (at >= count) break;
    const bytes = await readFile(file.path);
    // The file may have changed since it was stat'ed; never decode a partial record.
    if (bytes.length !== file.size) throw new Cifar10FileSizeError(file.path, bytes.length);
    const take = Math.min(file.records, count - at);
    decodeRecords(bytes, file.path, take, images, labels, at);
    files.push(file.path);
    at += take;
  }
  return { images, labels, count, files };
}
