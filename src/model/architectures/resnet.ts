import * as tf from '@tensorflow/tfjs';
import { LayerKit } from '../layer-kit.js';
import type { ArchitectureOptions, StemKind } from './common.js';

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

/**
 * Basic residual block (names under `p`):
 *   p_conv1 3x3/s -> p_bn1 -> p_relu1 -> p_conv2 3x3 -> p_bn2
 *   shortcut: identity, or p_shortcut_conv 1x1/s -> p_shortcut_bn when stride or channels change
 *   p_add -> p_relu2
 */
function basicBlock(kit: LayerKit, x: tf.SymbolicTensor, p: string, channels: number, stride: number): tf.SymbolicTensor {
  const inChannels = x.shape[x.shape.length - 1];
  let y = kit.conv2d(x, { name: `${p}_conv1`, filters: channels, kernelSize: 3, strides: stride, padding: 1, useBias: false });
  y = kit.batchNorm(y, `${p}_bn1`);
  y = kit.relu(y, `${p}_relu1`);
  y = kit.conv2d(y, { name: `${p}_conv2`, filters: channels, kernelSize: 3, padding: 1, useBias: false });
  y = kit.batchNorm(y, `${p}_bn2`);
  let shortcut = x;
  if (stride !== 1 || inChannels !== channels) {
    shortcut = kit.conv2d(x, { name: `${p}_shortcut_conv`, filters: channels, kernelSize: 1, strides: stride, useBias: false });
    shortcut = kit.batchNorm(shortcut, `${p}_shortcut_bn`);
  }
  return kit.relu(kit.add([y, shortcut], `${p}_add`), `${p}_relu2`);
}

/** Stem conv geometry per StemKind (torchvision's conv1 is 7x7 stride 2, padding 3). */
export const STEM_CONV: Record<StemKind, { kernelSize: number; strides: number; padding: number }> = {
  cifar: { kernelSize: 3, strides: 1, padding: 1 },
  imagenet: { kernelSize: 7, strides: 2, padding: 3 },
  'imagenet-conv1': { kernelSize: 7, strides: 1, padding: 3 },
};

/**
 * Builds `layout`; layers are named stem_conv, stem_bn, stem_relu, (stem_pool
 * with the ImageNet stem), stage{s}_block{b}_*, avgpool, fc.
 */
export function buildResNet(layout: ResNetLayout, options: ArchitectureOptions): tf.LayersModel {
  const kit = new LayerKit(options.seed);
  const stem = options.stem ?? 'cifar';
  const input = tf.input({ shape: options.inputShape, name: 'input' });
  let x = kit.conv2d(input, { name: 'stem_conv', filters: layout.stemChannels, ...STEM_CONV[stem], useBias: false });
  x = kit.batchNorm(x, 'stem_bn');
  x = kit.relu(x, 'stem_relu');
  if (stem === 'imagenet') x = kit.maxPool(x, 'stem_pool', 3, 2, 1);
  layout.stages.forEach((stage, s) => {
    for (let b = 0; b < stage.blocks; b++) {
      x = basicBlock(kit, x, `stage${s + 1}_block${b + 1}`, stage.channels, b === 0 ? stage.stride : 1);
    }
  });
  x = kit.globalAvgPool(x, 'avgpool');
  const logits = kit.dense(x, { name: 'fc', units: options.numClasses });
  return tf.model({ inputs: input, outputs: logits, name: layout.name });
}
