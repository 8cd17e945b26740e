import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, reseedDropout, SeededDropout, seededDropout, spatialDropout2d } from '../../../src/model/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const ones = (): tf.Tensor4D => tf.ones([4, 6, 6, 32]) as tf.Tensor4D;

function run(layer: tf.layers.Layer, training: boolean, x: tf.Tensor = ones()): Float32Array {
  return tf.tidy(() => (layer.apply(x, { training }) as tf.Tensor).dataSync() as Float32Array);
}

describe('SeededDropout', () => {
  it('Dropout2d zeroes whole channels of each sample in training and rescales the rest', () => {
    const layer = spatialDropout2d({ rate: 0.5, seed: 11 });
    const out = tf.tidy(() => (layer.apply(ones(), { training: true }) as tf.Tensor4D).arraySync());
    let dropped = 0;
    let kept = 0;
    for (const sample of out) {
      for (let c = 0; c < 32; c++) {
        const values = new Set(sample.flatMap((row) => row.map((pixel) => pixel[c])));
        expect(values.size).toBe(1); // the whole HxW map shares one flag
        const v = [...values][0];
        if (v === 0) dropped++;
        else {
          expect(v).toBeCloseTo(2, 6); // 1 / (1 - 0.5)
          kept++;
        }
      }
    }
    expect(dropped).toBeGreaterThan(20);
    expect(kept).toBeGreaterThan(20);
  });

  it('plain dropout drops single elements', () => {
    const out = run(seededDropout({ rate: 0.5, seed: 1 }), true);
    const perChannel = new Set<number>();
    for (let i = 0; i < 6 * 6; i++) perChannel.add(out[i * 32] ?? -1);
    expect(perChannel.size).toBe(2); // channel 0 varies across pixels
  });

  it('is the identity in inference (and when training is not set)', () => {
    const layer = spatialDropout2d({ rate: 0.25, seed: 3 });
    const x = tf.randomNormal([2, 4, 4, 8], 0, 1, 'float32', 5);
    expect(run(layer, false, x)).toEqual(x.dataSync());
    expect(tf.tidy(() => (layer.apply(x) as tf.Tensor).dataSync())).toEqual(x.dataSync());
    expect(layer.step).toBe(0);
    x.dispose();
  });

  it('is seeded: same seed -> same mask sequence; masks change from step to step', () => {
    const a = spatialDropout2d({ rate: 0.5, seed: 99 });
    const b = spatialDropout2d({ rate: 0.5, seed: 99 });
    const a1 = run(a, true);
    const a2 = run(a, true);
    expect(run(b, true)).toEqual(a1);
    expect(run(b, true)).toEqual(a2);
    expect(a2).not.toEqual(a1); // unlike a seeded stock tf Dropout, which repeats its mask
    expect(a.step).toBe(2);
    a.reseed(99);
    expect(run(a, true)).toEqual(a1);
    a.reseed(99, 1);
    expect(run(a, true)).toEqual(a2);
  });

  it('serialises as a stock Dropout with a channel noise shape', () => {
    const layer = spatialDropout2d({ rate: 0.25, seed: 1, name: 'd' });
    expect(layer.getClassName()).toBe('Dropout');
    expect(layer.getConfig()).toMatchObject({ rate: 0.25, noiseShape: [null, 1, 1, null], name: 'd' });
    expect(layer.getConfig()).not.toHaveProperty('seed');
  });

  it('models get their dropout seeds from the model seed, and reseedDropout gives new streams', () => {
    const layersOf = (m: tf.LayersModel): SeededDropout[] => m.layers.filter((l): l is SeededDropout => l instanceof SeededDropout);
    const a = buildModel({ name: 'cnn', seed: 1 });
    const b = buildModel({ name: 'cnn', seed: 1 });
    const c = buildModel({ name: 'cnn', seed: 2 });
    const seeds = (m: tf.LayersModel): Array<number | null> => layersOf(m).map((l) => l.seed);
    expect(seeds(a)).toHaveLength(4);
    expect(seeds(a)).toEqual(seeds(b));
    expect(new Set(seeds(a)).size).toBe(4);
    expect(seeds(c)).not.toEqual(seeds(a));
    reseedDropout(b, 1234);
    expect(seeds(b)).not.toEqual(seeds(a));
    for (const m of [a, b, c]) m.dispose();
  });

  it('rejects a rate outside [0, 1)', () => {
    expect(() => spatialDropout2d({ rate: 1 })).toThrow(RangeError);
    expect(() => seededDropout({ rate: -0.1 })).toThrow(RangeError);
  });
});

describe('SeededDropout inside a model', () => {
  it('trains: gradients flow through the masks and each training pass advances the stream', () => {
    const model = buildModel({ name: 'cnn', seed: 4, inputShape: [8, 8, 3] });
    const drop = model.getLayer('block1_dropout') as SeededDropout;
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
    const labels = tf.oneHot(tf.tensor1d([1, 7], 'int32'), 10);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    );
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    expect(Object.keys(grads).length).toBe(model.trainableWeights.length);
    for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    expect(drop.step).toBe(1);
    tf.dispose([x, labels, value, ...Object.values(grads)]);
    model.dispose();
  });
});
