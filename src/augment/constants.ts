import { IMAGE_CHANNELS, IMAGE_VALUES, IMAGE_WIDTH } from '../dataset/cifar10-constants.js';

/** Side of the images the crops, flips and boxes work on: CIFAR-10's are square. */
export const IMAGE_SIZE = IMAGE_WIDTH;
export const CHANNELS = IMAGE_CHANNELS;
/** Values per row of an HWC image. */
export const ROW_LEN = IMAGE_SIZE * CHANNELS; // 96
/** Values per image (32*32*3). */
export const IMAGE_LEN = IMAGE_VALUES; // 3,072

/** Zero padding of the random crop, as torchvision RandomCrop(32, padding=4). */
export const CROP_PADDING = 4;
/** Crop offsets into the padded image run 0..MAX_CROP_OFFSET inclusive; CROP_PADDING is "no shift". */
export const MAX_CROP_OFFSET = 2 * CROP_PADDING; // 8

/** ITU-R 601 luma weights, the grayscale ColorJitter's contrast blends towards. */
export const GRAY_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];
