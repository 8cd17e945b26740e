import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { batchNorm } from '../../../src/model/layers/batch-norm.js';
import { randomValues, useBackend } from './backend-compare.js';

/** Exercises every replacement kernel: strided / valid / 1x1 convs, BN, dense. */
function smallModel(): tf.LayersModel {
  const input = tf.input({ shape: [9, 9, 3] });
  let h = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  h = batchNorm().apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  const a = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid' }).apply(h) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 8, kernelSize: 1, strides: 2, padding: 'valid' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.concatenate().apply([
    a,
    tf.layers
      .cropping2D({
        cropping: [
          [0, 1],
          [0, 1],
        ],
      })
      .apply(b) as tf.SymbolicTensor,
  ]) as tf.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4 }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('wasm training steps do not leak', () => {
  it('keeps tf.memory().numTensors and the backend data ids stable across gradient steps', async () => {
    await useBackend('wasm');
    const model = smallModel();
    const optimizer: tf.Optimizer = tf.train.momentum(0.01, 0.9);
    const x = tf.tensor(randomValues(6 * 9 * 9 * 3, 41), [6, 9, 9, 3]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32'), 4);
    const step = (): void => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        );
        optimizer.applyGradients(grads);
        return value;
      });
      loss.dataSync();
      loss.dispose();
    };
    step(); // creates optimizer slots
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
    tf.dispose([x, y]);
    model.dispose();
  });
});
