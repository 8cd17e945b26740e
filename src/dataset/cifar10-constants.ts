/**
 * What a CIFAR-10 image and label are, for every stage after the loader:
 * 32x32 RGB images (HWC once loaded), ten classes, and the training set's
 * per-channel statistics that inputs are normalised with.
 */
export const IMAGE_HEIGHT = 32;
export const IMAGE_WIDTH = 32;
export const IMAGE_CHANNELS = 3;
/** [height, width, channels]: one image of an NHWC batch. */
export const IMAGE_SHAPE: readonly [number, number, number] = [IMAGE_HEIGHT, IMAGE_WIDTH, IMAGE_CHANNELS];
/** Values per image (3,072): bytes on disk, floats once normalised. */
export const IMAGE_VALUES = IMAGE_HEIGHT * IMAGE_WIDTH * IMAGE_CHANNELS;

export const NUM_CLASSES = 10;
/** Label order of the official release, used when batches.meta.txt is absent. */
export const STANDARD_CLASS_NAMES: readonly string[] = Object.freeze([
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
]);

/** Per-channel (R, G, B) statistics of the CIFAR-10 training set, on [0,1] pixels. */
export const CIFAR10_MEAN: readonly [number, number, number] = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD: readonly [number, number, number] = [0.247, 0.2435, 0.2616];
