import { IMAGE_CHANNELS, IMAGE_HEIGHT, IMAGE_WIDTH } from './cifar10-constants.js';

/**
 * The CIFAR-10 binary layout (https://www.cs.toronto.edu/~kriz/cifar.html):
 * each record is 1 label byte then a 32x32 image as 1024 R, 1024 G, 1024 B
 * bytes, rows top to bottom.
 */
export const PLANE_BYTES = IMAGE_HEIGHT * IMAGE_WIDTH; // 1,024
export const IMAGE_BYTES = PLANE_BYTES * IMAGE_CHANNELS; // 3,072
export const RECORD_BYTES = 1 + IMAGE_BYTES; // 3,073
/** Records per file in the official release (each batch is 30,730,000 bytes). */
export const RECORDS_PER_BATCH = 10_000;

/** Folder name inside the official tarball; `dir` may point at its parent. */
export const BATCHES_DIR_NAME = 'cifar-10-batches-bin';
export const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const TEST_FILE = 'test_batch.bin';
export const META_FILE = 'batches.meta.txt';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';

export type Cifar10SplitName = 'train' | 'test';
