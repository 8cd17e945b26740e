/**
 * Geometry and statistics of the images augment/ works on. Kept local (not
 * imported from dataset/) so the augmentation maths has no load-time coupling.
 */
export const IMAGE_SIZE = 32;
export const CHANNELS = 3;
/** Values per row of an HWC image. */
export const ROW_LEN = IMAGE_SIZE * CHANNELS; // 96
/** Values per image (32*32*3). */
export const IMAGE_LEN = IMAGE_SIZE * ROW_LEN; // 3,072
export const NUM_CLASSES = 10;

/** Zero padding of the random crop, as torchvision RandomCrop(32, padding=4). */
export const CROP_PADDING = 4;
/** Crop offsets into the padded image run 0..MAX_CROP_OFFSET inclusive; CROP_PADDING is "no shift". */
export const MAX_CROP_OFFSET = 2 * CROP_PADDING; // 8

/** Per-channel (R, G, B) statistics of the CIFAR-10 training set, on [0,1] pixels. */
export const CIFAR10_MEAN: readonly [number, number, number] = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD: readonly [number, number, number] = [0.247, 0.2435, 0.2616];

/** ITU-R 601 luma weights, the grayscale ColorJitter's contrast blends towards. */
export const GRAY_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];
