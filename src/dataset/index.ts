/**
 * dataset/: CIFAR-10 on disk — load the binary batches as NHWC uint8,
 * download and verify the official release, the errors both raise, and what
 * an image and a label are (cifar10-constants.ts) for every later stage.
 */
export { loadCifar10, loadRunData, type Cifar10, type LoadCifar10Options, type RunDataSettings } from './load-cifar10.js';
export { loadCifar10Split, type Cifar10Split, type LoadSplitOptions } from './load-split.js';
export { readClassNames } from './class-names.js';
export {
  downloadCifar10,
  type DownloadCifar10Options,
  type DownloadCifar10Result,
  type DownloadProgressEvent,
} from './download-cifar10.js';
export { downloadIfAsked, ensureCifar10, type EnsureCifar10Options } from './ensure-cifar10.js';
export { checkCifar10Files, requireCifar10Files, type InstallState } from './install-state.js';
export { resolveBatchesDir, canonicalBatchesDir } from './data-dir.js';
export { manualInstallHint } from './install-hint.js';
export type { ProgressMode } from './download-progress.js';
export {
  CIFAR10_MEAN,
  CIFAR10_STD,
  IMAGE_CHANNELS,
  IMAGE_HEIGHT,
  IMAGE_SHAPE,
  IMAGE_VALUES,
  IMAGE_WIDTH,
  NUM_CLASSES,
  STANDARD_CLASS_NAMES,
} from './cifar10-constants.js';
export {
  BATCHES_DIR_NAME,
  CIFAR10_MD5,
  CIFAR10_URL,
  IMAGE_BYTES,
  META_FILE,
  RECORD_BYTES,
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
