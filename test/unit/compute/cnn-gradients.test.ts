import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { randomValues, relativeError, runOn } from './backend-compare.js';

/**
 * A small CNN of the classic CNN's layer kinds (3x3 'same' convs, BatchNorm,
 * ReLU, 2x2 max pools, dense) trained one step on wasm, where every fleet
 * kernel runs (the SIMD conv gradients and MaxPoolGrad, the BatchNorm and
 * matMul replacements), against the cpu backend from the same weights.
 */
function smallCnn(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x: tf.SymbolicTensor = input;
  for (const filters of [8, 16]) {
    for (let j = 0; j < 2; j++) {
      x = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', kernelInitializer: 'glorotUniform' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.batchNormalization({ axis: -1 }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    }
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 10 }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe('small cnn gradients, wasm vs cpu', () => {
  it('every variable gradient of a batch of 5 matches to float tolerance', async () => {
    const batch = 5;
    const xValues = randomValues(batch * 12 * 12 * 3, 41);
    let weights: Float32Array[] | null = null;
    const model0Names: string[] = [];
    const grads = (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> =>
      runOn(backend, () => {
        const model = smallCnn();
        if (weights === null) {
          weights = model.getWeights().map((w) => (w.dataSync() as Float32Array).slice());
          model0Names.push(...model.trainableWeights.map((w) => w.originalName));
        } else model.setWeights(model.getWeights().map((w, i) => tf.tensor(weights?.[i] as Float32Array, w.shape)));
        const x = tf.tensor4d(xValues, [batch, 12, 12, 3]);
        const y = tf.oneHot(tf.tensor1d([1, 7, 3, 0, 9], 'int32'), 10);
        const { grads: g } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
          model.trainableWeights.map((w) => w.read() as tf.Variable),
        );
        const list = Object.values(g).map((t) => t.clone());
        model.dispose();
        return list;
      });
    const ref = await grads('cpu');
    const got = await grads('wasm');
    expect(ref.length).toBe(18); // 4 convs and 4 BatchNorms (2 each), the dense layer (2)
    expect(got.length).toBe(ref.length);
    ref.forEach((r, i) => {
      const name = `gradient ${i} (${model0Names[i]})`;
      if (/conv2d.*bias/.test(model0Names[i] ?? '')) {
        // In front of BatchNorm a conv's bias has a gradient of 0 (BatchNorm
        // removes the mean): both backends give rounding noise around 0.
        expect(maxAbs(r), name).toBeLessThan(1e-5);
        expect(maxAbs(got[i] as Float32Array), name).toBeLessThan(1e-5);
      } else {
        expect(relativeError(got[i] as Float32Array, r), name).toBeLessThan(1e-4);
      }
    });
  });
});
