import * as tf from '@tensorflow/tfjs';
import { LayerKit } from '../layer-kit.js';
import type { ArchitectureOptions } from './common.js';

/**
 * Test models, fast enough to train in unit tests (not advertised by the CLI).
 * 'tiny':    conv1 3x3 8 (+bias) -> relu1 -> pool1 -> flatten -> fc
 * 'tiny-bn': conv1 3x3 8 (no bias) -> bn1 -> relu1 -> pool1 -> flatten -> fc
 */
export function buildTiny(options: ArchitectureOptions, withBatchNorm: boolean): tf.LayersModel {
  const kit = new LayerKit(options.seed);
  const input = tf.input({ shape: options.inputShape, name: 'input' });
  let x = kit.conv2d(input, { name: 'conv1', filters: 8, kernelSize: 3, padding: 1, useBias: !withBatchNorm });
  if (withBatchNorm) x = kit.batchNorm(x, 'bn1');
  x = kit.relu(x, 'relu1');
  x = kit.maxPool(x, 'pool1');
  x = kit.flatten(x);
  const logits = kit.dense(x, { name: 'fc', units: options.numClasses });
  return tf.model({ inputs: input, outputs: logits, name: withBatchNorm ? 'tiny-bn' : 'tiny' });
}
