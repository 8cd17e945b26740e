import * as tf from '@tensorflow/tfjs';
import { LayerKit } from '../layer-kit.js';
import type { ArchitectureOptions } from './common.js';
import { type ResNetLayout, STEM_CONV } from './resnet-layouts.js';

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
