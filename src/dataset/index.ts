/**
 * dataset/: CIFAR-10 on disk — load the binary batches as NHWC uint8,
 * download and verify the official release, and the errors both raise.
 */
export { loadCifar10, type Cifar10, type LoadCifar10Options } from './load-cifar10.js';
export { loadCifar10Split, type Cifar10Split, type LoadSplitOptions } from './load-split.js';
export { readClassNames } from './class-names.js';
export { downloadCifar10, type DownloadCifar10Options, type DownloadCifar10Result, type DownloadProgressEvent } from './download-cifar10.js';
export { ensureCifar10, type EnsureCifar10Options } from './ensure-cifar10.js';
export { checkCifar10Files, type InstallState } from './install-state.js';
export { resolveBatchesDir, canonicalBatchesDir } from './data-dir.js';
export { manualInstallHint } from './install-hint.js';
export type { ProgressMode } from './download-progress.js';
export {
  BATCHES_DIR_NAME,
  CIFAR10_MD5,
  CIFAR10_URL,
  IMAGE_BYTES,
  IMAGE_CHANNELS,
  IMAGE_HEIGHT,
  IMAGE_WIDTH,
  META_FILE,
  NUM_CLASSES,
  RECORD_BYTES,
  STANDARD_CLASS_NAMES,
  TEST_FILE,
  TRAIN_FILES,
  type Cifar10SplitName,
} from './cifar10-format.js';
export {
  ChecksumMismatchError,
  Cifar10DownloadError,
  Cifar10FileSizeError,
  Cifar10OptionError,
  ClassNamesError,
  CorruptRecordError,
  InvalidLabelError,
  MissingDataFilesError,
  type DownloadStage,
} from './errors.js';
