import * as tf from '@tensorflow/tfjs';
import { LayerKit } from '../layer-kit.js';
import type { ArchitectureOptions } from './common.js';

/** Channels of the three conv blocks. */
export const CNN_BLOCK_CHANNELS = [64, 128, 256] as const;

/**
 * The classic PyTorch CIFAR10CNN. Per block b (channels 64/128/256):
 *   block{b}_conv1 3x3 pad 1 (+bias) -> block{b}_bn1 -> block{b}_relu1
 *   block{b}_conv2 3x3 pad 1 (+bias) -> block{b}_bn2 -> block{b}_relu2
 *   block{b}_pool MaxPool 2 -> block{b}_dropout Dropout2d(0.25)
 * then flatten -> fc1 (4096->512) -> fc1_relu -> fc1_dropout (0.5) -> fc2 (logits).
 * 3,249,994 trainable parameters at 32x32x3 / 10 classes. Flatten runs over
 * NHWC here (HWC order), PyTorch's over CHW: same count, permuted fc1 rows.
 */
export function buildCnn(options: ArchitectureOptions): tf.LayersModel {
  const kit = new LayerKit(options.seed);
  const input = tf.input({ shape: options.inputShape, name: 'input' });
  let x = input;
  CNN_BLOCK_CHANNELS.forEach((filters, i) => {
    const b = `block${i + 1}`;
    for (const j of [1, 2]) {
      x = kit.conv2d(x, { name: `${b}_conv${j}`, filters, kernelSize: 3, padding: 1, useBias: true });
      x = kit.batchNorm(x, `${b}_bn${j}`);
      x = kit.relu(x, `${b}_relu${j}`);
    }
    x = kit.maxPool(x, `${b}_pool`);
    x = kit.dropout2d(x, `${b}_dropout`, 0.25);
  });
  x = kit.flatten(x);
  x = kit.dense(x, { name: 'fc1', units: 512 });
  x = kit.relu(x, 'fc1_relu');
  x = kit.dropout(x, 'fc1_dropout', 0.5);
  const logits = kit.dense(x, { name: 'fc2', units: options.numClasses });
  return tf.model({ inputs: input, outputs: logits, name: 'cnn' });
}
