import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/compute/index.js';
import {
  buildModel,
  countParameters,
  MODEL_NAMES,
  ModelConfigError,
  TEST_MODEL_NAMES,
  torchInitBound,
  UnknownModelError,
  type AnyModelName,
} from '../../../src/model/index.js';

beforeAll(async () => {
  // wasm (fleet's kernels): ResNet-34's forward pass takes half a minute on tfjs's pure-JS cpu backend.
  await selectBackend('wasm');
});

function weightsOf(model: tf.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
}

describe('buildModel', () => {
  it('advertises the user models and keeps the test models apart', () => {
    expect(MODEL_NAMES).toEqual(['cnn', 'resnet', 'resnet18', 'resnet34']);
    expect(TEST_MODEL_NAMES).toEqual(['tiny', 'tiny-bn']);
  });

  it.each<AnyModelName>(['cnn', 'resnet', 'resnet18', 'resnet34', 'tiny', 'tiny-bn'])('%s maps [B,32,32,3] to logits [B,10]', (name) => {
    const model = buildModel({ name, seed: 3 });
    expect(model.outputs[0]?.shape).toEqual([null, 10]);
    const y = tf.tidy(() => model.predict(tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 9)) as tf.Tensor);
    expect(y.shape).toEqual([2, 10]);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    // logits, not probabilities: rows need not sum to 1
    expect(model.layers.at(-1)?.getConfig().activation).toBe('linear');
    y.dispose();
    model.dispose();
  });

  it('honours numClasses and inputShape', () => {
    const model = buildModel({ name: 'tiny', seed: 1, numClasses: 5, inputShape: [16, 16, 1] });
    expect(model.inputs[0]?.shape).toEqual([null, 16, 16, 1]);
    expect(model.outputs[0]?.shape).toEqual([null, 5]);
    model.dispose();
  });

  it('uses stable layer names, so weights can be matched by name across models', () => {
    const a = buildModel({ name: 'cnn', seed: 1 });
    const b = buildModel({ name: 'cnn', seed: 2 });
    const names = a.layers.map((l) => l.name);
    expect(names).toEqual(b.layers.map((l) => l.name));
    expect(names).toEqual(
      expect.arrayContaining([
        'block1_conv1',
        'block1_bn1',
        'block1_relu1',
        'block1_conv2',
        'block1_pool',
        'block1_dropout',
        'block3_conv2',
        'flatten',
        'fc1',
        'fc1_dropout',
        'fc2',
      ]),
    );
    // variable names get _N suffixes when several models live in one process; originalName does not
    expect(a.weights.map((w) => w.originalName)).toEqual(b.weights.map((w) => w.originalName));
    expect(a.weights[0]?.originalName).toBe('block1_conv1/kernel');
    const r = buildModel({ name: 'resnet', seed: 1 });
    expect(r.layers.map((l) => l.name)).toEqual(
      expect.arrayContaining([
        'stem_conv',
        'stage1_block1_conv1',
        'stage2_block1_shortcut_conv',
        'stage2_block1_shortcut_bn',
        'stage3_block3_relu2',
        'avgpool',
        'fc',
      ]),
    );
    expect(r.layers.map((l) => l.name)).not.toContain('stage1_block1_shortcut_conv');
    for (const m of [a, b, r]) m.dispose();
  });

  it('same seed gives identical initial weights, a different seed different ones', () => {
    const a = weightsOf(buildModel({ name: 'resnet', seed: 42 }));
    const b = weightsOf(buildModel({ name: 'resnet', seed: 42 }));
    const c = weightsOf(buildModel({ name: 'resnet', seed: 43 }));
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [name, values] of a) {
      expect(b.get(name), name).toEqual(values);
    }
    const kernels = [...a.keys()].filter((n) => n.endsWith('/kernel'));
    for (const name of kernels) expect(c.get(name), name).not.toEqual(a.get(name));
    // and layers within one model do not share a stream
    expect(a.get('stage1_block1_conv1/kernel')).not.toEqual(a.get('stage1_block1_conv2/kernel'));
  });

  it('initialises like PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases, BN gamma 1 beta 0', () => {
    const model = buildModel({ name: 'cnn', seed: 7 });
    let checked = 0;
    for (const layer of model.layers) {
      const isConv = layer.getClassName() === 'Conv2D';
      const isDense = layer.getClassName() === 'Dense';
      if (isConv || isDense) {
        const [kernel, bias] = layer.getWeights();
        if (kernel === undefined || bias === undefined) throw new Error(`${layer.name}: expected kernel and bias`);
        const fanIn = isConv ? kernel.shape[0]! * kernel.shape[1]! * kernel.shape[2]! : kernel.shape[0]!;
        const bound = torchInitBound(fanIn);
        const k = Array.from(kernel.dataSync());
        const maxAbs = k.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(maxAbs, layer.name).toBeLessThanOrEqual(bound);
        expect(maxAbs, layer.name).toBeGreaterThan(0.95 * bound);
        // uniform on [-b, b]: mean 0, std b/sqrt(3)
        const mean = k.reduce((s, v) => s + v, 0) / k.length;
        const std = Math.sqrt(k.reduce((s, v) => s + (v - mean) ** 2, 0) / k.length);
        expect(Math.abs(mean), layer.name).toBeLessThan(0.05 * bound);
        expect(std / (bound / Math.sqrt(3)), layer.name).toBeCloseTo(1, 1);
        const b = Array.from(bias.dataSync());
        expect(
          b.every((v) => Math.abs(v) <= bound),
          layer.name,
        ).toBe(true);
        expect(new Set(b).size, layer.name).toBeGreaterThan(1);
        checked++;
      }
      if (layer.name.includes('_bn')) {
        const byName = new Map(layer.weights.map((w, i) => [w.originalName.split('/').pop(), layer.getWeights()[i]!]));
        expect(
          Array.from(byName.get('gamma')!.dataSync()).every((v) => v === 1),
          layer.name,
        ).toBe(true);
        expect(
          Array.from(byName.get('beta')!.dataSync()).every((v) => v === 0),
          layer.name,
        ).toBe(true);
      }
    }
    expect(checked).toBe(8);
    model.dispose();
  });

  it('convs of the ResNets have no bias (BN follows); the classifier has one', () => {
    const model = buildModel({ name: 'resnet18', seed: 1 });
    for (const layer of model.layers) {
      if (layer.getClassName() === 'Conv2D') expect(layer.getConfig().useBias, layer.name).toBe(false);
    }
    expect(model.getLayer('fc').getConfig().useBias).toBe(true);
    model.dispose();
  });

  it('pads stride-2 3x3 convs symmetrically like PyTorch (not TF "same", which pads bottom/right only)', () => {
    const model = buildModel({ name: 'resnet', seed: 5 });
    const conv = model.getLayer('stage2_block1_conv1');
    const pad = model.getLayer('stage2_block1_conv1_pad');
    const probe = tf.model({ inputs: model.inputs, outputs: [pad.input as tf.SymbolicTensor, conv.output as tf.SymbolicTensor] });
    tf.tidy(() => {
      const [x, y] = probe.predict(tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 2)) as tf.Tensor4D[];
      const kernel = conv.getWeights()[0] as tf.Tensor4D;
      const expected = tf.conv2d(
        tf.pad(x!, [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]),
        kernel,
        2,
        'valid',
      );
      expect(y!.shape).toEqual([1, 16, 16, 32]);
      expect(tf.max(tf.abs(tf.sub(y!, expected))).dataSync()[0]).toBeLessThan(1e-5);
    });
    model.dispose();
  });

  it('counts parameters of the tiny test models', () => {
    const tiny = buildModel({ name: 'tiny', seed: 1 });
    expect(countParameters(tiny)).toEqual({ trainable: 3 * 9 * 8 + 8 + 16 * 16 * 8 * 10 + 10, nonTrainable: 0 });
    const tinyBn = buildModel({ name: 'tiny-bn', seed: 1 });
    expect(countParameters(tinyBn)).toEqual({ trainable: 3 * 9 * 8 + 2 * 8 + 16 * 16 * 8 * 10 + 10, nonTrainable: 2 * 8 });
    tiny.dispose();
    tinyBn.dispose();
  });

  it('rejects unknown names and bad options with typed errors', () => {
    expect(() => buildModel({ name: 'vgg' as AnyModelName, seed: 1 })).toThrow(UnknownModelError);
    try {
      buildModel({ name: 'toString' as AnyModelName, seed: 1 });
    } catch (error) {
      expect(error).toBeInstanceOf(UnknownModelError);
      expect((error as UnknownModelError).known).toContain('resnet18');
    }
    expect(() => buildModel({ name: 'tiny', seed: 1.5 })).toThrow(ModelConfigError);
    expect(() => buildModel({ name: 'tiny', seed: 1, numClasses: 1 })).toThrow(ModelConfigError);
    expect(() => buildModel({ name: 'tiny', seed: 1, inputShape: [32, 0, 3] })).toThrow(ModelConfigError);
  });
});
