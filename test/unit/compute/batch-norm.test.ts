import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { batchNorm } from '../../../src/model/layers/batch-norm.js';
import { randomValues, relativeError, useBackend } from './backend-compare.js';

const SHAPE = [4, 5, 3, 6];
const C = 6;

function inputs(seed: number): { x: tf.Tensor; dy: tf.Tensor; gamma: tf.Tensor1D; beta: tf.Tensor1D } {
  const x = tf.add(tf.mul(tf.tensor(randomValues(tf.util.sizeFromShape(SHAPE), seed), SHAPE), 3), 0.7);
  const dy = tf.tensor(randomValues(x.size, seed + 1), SHAPE);
  const gamma = tf.add(tf.tensor1d(randomValues(C, seed + 2)), 1.2) as tf.Tensor1D;
  const beta = tf.tensor1d(randomValues(C, seed + 3));
  return { x, dy, gamma, beta };
}

/** y, dx, dgamma, dbeta of a training-mode forward of `layer`, as arrays. */
async function trainingGrads(layer: tf.layers.Layer, seed: number): Promise<Float32Array[]> {
  const { x, dy, gamma, beta } = inputs(seed);
  layer.apply(tf.zeros([1, ...SHAPE.slice(1)])); // builds weights
  layer.setWeights([gamma, beta, tf.zeros([C]), tf.ones([C])]);
  const xv = tf.variable(x);
  const [g, b] = layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val) as [tf.Variable, tf.Variable];
  let y: tf.Tensor | undefined;
  const { grads } = tf.variableGrads(() => {
    const out = layer.apply(xv, { training: true }) as tf.Tensor;
    y = tf.keep(out.clone());
    return tf.sum(tf.mul(out, dy)) as tf.Scalar;
  }, [xv, g, b]);
  const result = await Promise.all(
    [y as tf.Tensor, grads[xv.name] as tf.Tensor, grads[g.name] as tf.Tensor, grads[b.name] as tf.Tensor].map(
      async (t) => (await t.data()) as Float32Array,
    ),
  );
  tf.dispose([x, dy, gamma, beta, xv, y as tf.Tensor, ...Object.values(grads)]);
  return result;
}

function stockLayer(): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5 });
}

describe('closed-form BatchNorm layer', () => {
  it('matches tfjs BatchNormalization output and gradients in training mode (cpu and wasm vs stock on cpu)', async () => {
    await useBackend('cpu');
    const ref = await trainingGrads(stockLayer(), 11);
    const ours = await trainingGrads(batchNorm(), 11);
    await useBackend('wasm');
    const oursWasm = await trainingGrads(batchNorm(), 11);
    const names = ['y', 'dx', 'dgamma', 'dbeta'];
    ref.forEach((r, i) => {
      expect(relativeError(ours[i] as Float32Array, r), `cpu ${names[i]}`).toBeLessThan(1e-4);
      expect(relativeError(oursWasm[i] as Float32Array, r), `wasm ${names[i]}`).toBeLessThan(1e-4);
    });
  });

  it('updates moving statistics with momentum 0.9 and the unbiased variance, and infers with them', async () => {
    await useBackend('cpu');
    const layer = batchNorm();
    const { x, gamma, beta } = inputs(21);
    layer.apply(x);
    layer.setWeights([gamma, beta, tf.zeros([C]), tf.ones([C])]);
    const xs = (await x.data()) as Float32Array;
    const n = x.size / C;
    const mean = new Float64Array(C);
    const sq = new Float64Array(C);
    for (const [i, v] of xs.entries()) mean[i % C] = (mean[i % C] as number) + v / n;
    for (const [i, v] of xs.entries()) sq[i % C] = (sq[i % C] as number) + (v - (mean[i % C] as number)) ** 2;
    tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
    const [, , mm, mv] = layer.getWeights();
    const mmv = await (mm as tf.Tensor).data();
    const mvv = await (mv as tf.Tensor).data();
    for (let c = 0; c < C; c++) {
      expect(mmv[c]).toBeCloseTo(0.1 * (mean[c] as number), 5);
      expect(mvv[c]).toBeCloseTo(0.9 + (0.1 * (sq[c] as number)) / (n - 1), 4);
    }
    // Inference: (x - moving_mean) / sqrt(moving_var + eps) * gamma + beta.
    const y = (await (layer.apply(x) as tf.Tensor).data()) as Float32Array;
    const g = await gamma.data();
    const b = await beta.data();
    const expected = xs.map(
      (v, i) => ((v - (mmv[i % C] as number)) / Math.sqrt((mvv[i % C] as number) + 1e-5)) * (g[i % C] as number) + (b[i % C] as number),
    );
    expect(relativeError(y, expected)).toBeLessThan(1e-5);
  });

  it('saves as a plain BatchNormalization that tf.loadLayersModel reloads and predicts the same', async () => {
    await useBackend('cpu');
    const input = tf.input({ shape: [6, 6, 3] });
    let h = tf.layers
      .conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: 'glorotUniform' })
      .apply(input) as tf.SymbolicTensor;
    h = batchNorm({ name: 'bn1' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3 }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const x = tf.tensor(randomValues(2 * 6 * 6 * 3, 31), [2, 6, 6, 3]);
    // A few training-mode calls so the moving statistics are not the initial ones.
    for (let i = 0; i < 3; i++) tf.dispose(model.apply(x, { training: true }) as tf.Tensor);

    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const topology = JSON.stringify(artifacts?.modelTopology);
    expect(topology).toContain('"class_name":"BatchNormalization"');
    const bnWeights = (artifacts?.weightSpecs ?? []).filter((w) => w.name.startsWith('bn1/')).map((w) => w.name);
    expect(bnWeights).toEqual(['bn1/gamma', 'bn1/beta', 'bn1/moving_mean', 'bn1/moving_variance']);

    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
    const a = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
    const b = (await (loaded.predict(x) as tf.Tensor).data()) as Float32Array;
    expect(relativeError(b, a)).toBeLessThan(1e-6);
  });
});
