import type { StemKind } from './common.js';

// Layouts are plain data, apart from the model builder: the CLI checks --model and pretrained files against them
// without loading TensorFlow.js.

/** One stage: `blocks` basic blocks of `channels`; the first one uses `stride`. */
export interface ResNetStage {
  channels: number;
  blocks: number;
  stride: number;
}

/** A CIFAR-style ResNet of basic blocks: 3x3 stem conv, stages, global avg pool, linear. */
export interface ResNetLayout {
  name: string;
  stemChannels: number;
  stages: readonly ResNetStage[];
}

/**
 * ResNet-20 of He et al. (CIFAR), option B shortcuts: stem conv3x3 16, stages
 * 16/32/64 x 3 blocks (stride 1/2/2), 1x1 conv+BN projection where the shape
 * changes (first blocks of stages 2 and 3). Convs have no bias (BN follows).
 * 272,474 parameters = 269,722 of ResNet-20 (option A) + 2,752 of the two
 * projections; test/unit/model derives it from the layout.
 */
export const RESNET20_LAYOUT: ResNetLayout = {
  name: 'resnet',
  stemChannels: 16,
  stages: [
    { channels: 16, blocks: 3, stride: 1 },
    { channels: 32, blocks: 3, stride: 2 },
    { channels: 64, blocks: 3, stride: 2 },
  ],
};

/**
 * ResNet-18 for 32x32 inputs (kuangliu/pytorch-cifar): 3x3 stride-1 stem, no
 * max-pool, stages 64/128/256/512 x 2 blocks, stride 2 at stages 2-4.
 * 11,173,962 parameters.
 */
export const RESNET18_LAYOUT: ResNetLayout = {
  name: 'resnet18',
  stemChannels: 64,
  stages: [
    { channels: 64, blocks: 2, stride: 1 },
    { channels: 128, blocks: 2, stride: 2 },
    { channels: 256, blocks: 2, stride: 2 },
    { channels: 512, blocks: 2, stride: 2 },
  ],
};

/**
 * ResNet-34 (torchvision's layers 3-4-6-3 of basic blocks), same stem and
 * head options as ResNet-18.
 */
export const RESNET34_LAYOUT: ResNetLayout = {
  name: 'resnet34',
  stemChannels: 64,
  stages: [
    { channels: 64, blocks: 3, stride: 1 },
    { channels: 128, blocks: 4, stride: 2 },
    { channels: 256, blocks: 6, stride: 2 },
    { channels: 512, blocks: 3, stride: 2 },
  ],
};

/** Stem conv geometry per StemKind (torchvision's conv1 is 7x7 stride 2, padding 3). */
export const STEM_CONV: Record<StemKind, { kernelSize: number; strides: number; padding: number }> = {
  cifar: { kernelSize: 3, strides: 1, padding: 1 },
  imagenet: { kernelSize: 7, strides: 2, padding: 3 },
  'imagenet-conv1': { kernelSize: 7, strides: 1, padding: 3 },
};
