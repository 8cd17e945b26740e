import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/compute/index.js';
import { buildModel, loadTorchvisionResNet, PretrainedWeightsError, writeSafetensors } from '../../../src/model/index.js';
import { formulaInputNhwc, formulaTensors, readTorchReference } from './torch-formula.js';

let dir: string;

beforeAll(async () => {
  // WASM, not cpu: a resnet34 forward pass on the cpu backend held this process for 30-70 s on a loaded
  // machine, long enough for vitest's worker to time out its calls to the runner.
  await selectBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'fleet-pretrained-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// scripts/torch-reference/resnet_logits.py recorded PyTorch's logits for
// formula weights; the same weights written as safetensors in torchvision's
// naming and imported into fleet's model (ImageNet stem, 1000-way head, no
// CIFAR adaptation) must give the same logits.
describe.each(['resnet18', 'resnet34'] as const)('%s imported from torchvision naming', (arch) => {
  it("matches PyTorch's logits within 1e-4 relative", () => {
    const ref = readTorchReference(arch);
    const file = join(dir, `${arch}.safetensors`);
    writeSafetensors(file, formulaTensors(ref));
    const { batch, channels, height, width } = ref.input;
    const model = buildModel({ name: arch, seed: 1, numClasses: 1000, inputShape: [height, width, channels], stem: 'imagenet' });
    const report = loadTorchvisionResNet(model, file);
    expect(report.skipped.every((n) => n.endsWith('num_batches_tracked'))).toBe(true);
    expect(report.loaded.length).toBe(ref.tensors.filter((t) => !t.name.endsWith('num_batches_tracked')).length);
    const logits = tf.tidy(
      () => (model.predict(tf.tensor4d(formulaInputNhwc(ref), [batch, height, width, channels])) as tf.Tensor).arraySync() as number[][],
    );
    const scale = Math.max(...ref.logits.flat().map(Math.abs));
    let worst = 0;
    ref.logits.forEach((row, n) => {
      row.forEach((want, j) => {
        worst = Math.max(worst, Math.abs((logits[n]?.[j] ?? Number.NaN) - want) / scale);
      });
    });
    // Relative to the largest logit: single logits near 0 have no meaningful relative error.
    expect(worst).toBeLessThan(1e-4);
    model.dispose();
  });
});

describe('CIFAR adaptation', () => {
  it('skips conv1 and fc, loads the rest', () => {
    const ref = readTorchReference('resnet18');
    const file = join(dir, 'adapt.safetensors');
    writeSafetensors(file, formulaTensors(ref));
    const model = buildModel({ name: 'resnet18', seed: 1 });
    const stemBefore = model.getLayer('stem_conv').getWeights()[0]?.dataSync();
    const report = loadTorchvisionResNet(model, file);
    expect(report.skipped).toContain('conv1.weight');
    expect(report.skipped).toContain('fc.weight');
    expect(report.loaded).toContain('layer4.1.bn2.running_var');
    expect(model.getLayer('stem_conv').getWeights()[0]?.dataSync()).toEqual(stemBefore);
    const gamma = model.getLayer('stage4_block2_bn2').getWeights()[0]?.dataSync();
    const t = ref.tensors.findIndex((x) => x.name === 'layer4.1.bn2.weight');
    expect(gamma?.[0]).toBeCloseTo(1 + 0.1 * Math.sin(1.3 * t), 6);
    model.dispose();
  });

  it('keeps conv1 with the imagenet-conv1 stem (7x7 at stride 1), OIHW -> HWIO', () => {
    const ref = readTorchReference('resnet18');
    const file = join(dir, 'conv1.safetensors');
    const tensors = formulaTensors(ref);
    writeSafetensors(file, tensors);
    const model = buildModel({ name: 'resnet18', seed: 1, stem: 'imagenet-conv1' });
    const report = loadTorchvisionResNet(model, file);
    expect(report.loaded).toContain('conv1.weight');
    const kernel = model.getLayer('stem_conv').getWeights()[0] as tf.Tensor4D;
    expect(kernel.shape).toEqual([7, 7, 3, 64]);
    const oihw = tensors.find((t) => t.name === 'conv1.weight')?.values as Float32Array;
    // HWIO [h=2, w=5, i=1, o=9] is OIHW [9, 1, 2, 5].
    expect(kernel.arraySync()[2]?.[5]?.[1]?.[9]).toBe(oihw[((9 * 3 + 1) * 7 + 2) * 7 + 5]);
    model.dispose();
  });

  it('refuses a resnet34 file for resnet18, listing every mismatch', () => {
    const file = join(dir, 'r34.safetensors');
    writeSafetensors(file, formulaTensors(readTorchReference('resnet34')));
    const model = buildModel({ name: 'resnet18', seed: 1 });
    let error: unknown;
    try {
      loadTorchvisionResNet(model, file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PretrainedWeightsError);
    const mismatches = (error as PretrainedWeightsError).mismatches;
    // resnet34 has blocks 1.2, 2.2-3, 3.2-5, 4.2 beyond resnet18's: 8 blocks x 10 tensors.
    expect(mismatches.filter((m) => m.problem === 'unexpected')).toHaveLength(80);
    expect(mismatches.every((m) => m.problem === 'unexpected')).toBe(true);
    expect((error as Error).message).toContain('unexpected layer3.5.conv2.weight [256, 256, 3, 3]');
    expect((error as Error).message).toContain('unexpected layer1.2.bn1.running_var [64]');
    model.dispose();
  });

  it('lists missing and wrongly shaped tensors too', () => {
    const tensors = formulaTensors(readTorchReference('resnet18'))
      .filter((t) => t.name !== 'layer2.0.downsample.0.weight')
      .map((t) => (t.name === 'layer1.0.bn1.weight' ? { ...t, shape: [32], values: new Float32Array(32) } : t));
    const file = join(dir, 'broken.safetensors');
    writeSafetensors(file, tensors);
    const model = buildModel({ name: 'resnet18', seed: 1 });
    expect(() => loadTorchvisionResNet(model, file)).toThrow(
      /missing layer2\.0\.downsample\.0\.weight \[128, 64, 1, 1\][\s\S]*wrong shape layer1\.0\.bn1\.weight: file \[32\], model needs \[64\]|wrong shape[\s\S]*missing/,
    );
    model.dispose();
  });
});
