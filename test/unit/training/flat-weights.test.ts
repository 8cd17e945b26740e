import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../../src/model/index.js';
import { layoutLength, readGradientContribution, readWeights, weightLayout, writeWeights } from '../../../src/training/flat-weights.js';
import { trainableParameters } from '../../../src/training/model-parameters.js';
import { softCrossEntropy } from '../../../src/training/soft-cross-entropy.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('flat weight layout', () => {
  it('lists every weight once, sorted by name, with BatchNorm statistics non-trainable', () => {
    const model = buildModel({ name: 'tiny-bn', seed: 1 });
    const layout = weightLayout(model);
    const names = layout.map((s) => s.name);
    expect(names).toEqual([...names].sort());
    expect(layoutLength(layout)).toBe(model.weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0));
    expect(layout.filter((s) => !s.trainable).map((s) => s.name.split('/')[1])).toEqual(['moving_mean', 'moving_variance']);
    // Offsets are contiguous.
    for (const [i, s] of layout.entries()) if (i > 0) expect(s.offset).toBe(layout[i - 1]!.offset + layout[i - 1]!.length);
  });

  it('uses the same names in a second model of the same process (no tfjs suffixes)', () => {
    const a = weightLayout(buildModel({ name: 'tiny-bn', seed: 1 }));
    const b = weightLayout(buildModel({ name: 'tiny-bn', seed: 2 }));
    expect(b.map((s) => s.name)).toEqual(a.map((s) => s.name));
  });

  it('writes and reads weights bit-exactly, and copies rather than aliases', () => {
    const source = buildModel({ name: 'tiny-bn', seed: 3 });
    const target = buildModel({ name: 'tiny-bn', seed: 4 });
    const layout = weightLayout(source);
    const flat = readWeights(source, layout, new Float32Array(layoutLength(layout)));
    writeWeights(target, layout, flat);
    const copy = readWeights(target, layout, new Float32Array(flat.length));
    expect(copy).toEqual(flat);
    flat.fill(0);
    expect(readWeights(target, layout, new Float32Array(flat.length))).toEqual(copy);
  });

  it('packs gradients of trainable weights and the values of BatchNorm statistics', () => {
    const model = buildModel({ name: 'tiny-bn', seed: 5 });
    const layout = weightLayout(model);
    const params = trainableParameters(model);
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const targets = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10).toFloat() as tf.Tensor2D;
    const { grads } = tf.variableGrads(
      () => softCrossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, targets),
      [...params.values()],
    );
    const flat = readGradientContribution(model, layout, grads, new Float32Array(layoutLength(layout)));
    for (const slice of layout) {
      const weight = model.weights.find((w) => w.originalName === slice.name)!;
      const expected = slice.trainable ? grads[(weight.read() as tf.Variable).name]!.dataSync() : weight.read().dataSync();
      expect(flat.subarray(slice.offset, slice.offset + slice.length)).toEqual(expected);
    }
  });
});
