import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { installOnednnKernels, loadOnednn, onednnLoadError, uninstallOnednnKernels } from '../../../src/compute/onednn/index.js';
import { IMAGE_SHAPE } from '../../../src/dataset/cifar10-constants.js';
import { buildModel } from '../../../src/model/index.js';
import { randomValues, relativeError, useBackend } from './backend-compare.js';

const addon = loadOnednn();
/** 16 images: enough for oneDNN to pick Winograd for several of the cnn's convolutions on AVX-512. */
function batch(seed: number, size = 16): { x: tf.Tensor; y: tf.Tensor } {
  const x = tf.tensor(randomValues(size * IMAGE_SHAPE.reduce((a, b) => a * b, 1), seed), [size, ...IMAGE_SHAPE]);
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: size }, (_, i) => (i * 7) % 10),
      'int32',
    ),
    10,
  );
  return { x, y };
}

function loss(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
}

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The gradient of every trainable weight of a fresh seed-1 cnn on one batch, by weight name. */
async function cnnGradients(): Promise<Map<string, Float32Array>> {
  const model = buildModel({ name: 'cnn', seed: 1 });
  const { x, y } = batch(7);
  const { value, grads } = tf.variableGrads(() => loss(model, x, y));
  const out = new Map<string, Float32Array>();
  for (const w of model.trainableWeights) {
    const g = grads[w.originalName] ?? grads[w.name];
    if (!g) throw new Error(`no gradient for ${w.name}`);
    out.set(w.originalName, (await g.data()) as Float32Array);
  }
  tf.dispose([value, x, y, ...Object.values(grads)]);
  model.dispose();
  return out;
}

/** Trains a fresh seed-1 cnn `steps` steps and returns its weights. */
async function trainedWeights(steps: number): Promise<Float32Array[]> {
  const model = buildModel({ name: 'cnn', seed: 1 });
  const optimizer = tf.train.momentum(0.01, 0.9);
  const { x, y } = batch(11);
  for (let s = 0; s < steps; s++) {
    tf.tidy(() => {
      optimizer.minimize(() => loss(model, x, y));
    });
  }
  const weights = await Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return weights;
}

describe.skipIf(!addon)(`cnn training with the oneDNN kernels${addon ? '' : ` (skipped: ${onednnLoadError()})`}`, () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(() => uninstallOnednnKernels());

  it("gives one training step's gradients of the wasm kernels within 1e-4", async () => {
    uninstallOnednnKernels();
    const wasm = await cnnGradients();
    if (addon) installOnednnKernels(addon);
    const onednn = await cnnGradients();
    expect([...onednn.keys()]).toEqual([...wasm.keys()]);
    for (const [name, ref] of wasm) {
      const got = onednn.get(name) as Float32Array;
      if (name.match(/block\d_conv\d\/bias/)) {
        // A bias feeding BatchNorm has a zero gradient: both sides are rounding
        // noise (about 1e-8), so only its size is compared.
        expect(maxAbs(got), name).toBeLessThan(1e-6);
        expect(maxAbs(ref), name).toBeLessThan(1e-6);
      } else {
        expect(relativeError(got, ref), name).toBeLessThan(1e-4);
      }
    }
  });

  it('trains to the same parameters twice from the same seed', async () => {
    if (addon) installOnednnKernels(addon);
    const first = await trainedWeights(2);
    const second = await trainedWeights(2);
    expect(second.length).toBe(first.length);
    for (const [i, w] of first.entries()) expect(Array.from(second[i] as Float32Array)).toEqual(Array.from(w));
  });

  it('keeps tf.memory().numTensors and the backend data ids stable across steps', async () => {
    if (addon) installOnednnKernels(addon);
    const model = buildModel({ name: 'cnn', seed: 1 });
    const optimizer: tf.Optimizer = tf.train.momentum(0.01, 0.9);
    const { x, y } = batch(13, 4);
    const step = (): void => {
      const value = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => loss(model, x, y));
        optimizer.applyGradients(grads);
        return value;
      });
      value.dataSync();
      value.dispose();
    };
    step(); // creates the optimizer's slots
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    for (let i = 0; i < 4; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  });
});
