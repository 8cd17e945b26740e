import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, countParameters, RESNET18_LAYOUT, RESNET20_LAYOUT, RESNET34_LAYOUT } from '../../../src/model/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** PyTorch's parameter count of a conv (weights + optional bias) and of BatchNorm2d (gamma + beta). */
const conv = (cin: number, cout: number, k: number, bias: boolean): number => cin * cout * k * k + (bias ? cout : 0);
const bn = (c: number): number => 2 * c;
const linear = (fin: number, fout: number): number => fin * fout + fout;

/**
 * Parameters of a CIFAR ResNet of basic blocks, the way torchvision/kuangliu
 * count them: bias-free convs, BN after each, 1x1 conv + BN projection where
 * stride != 1 or channels change, global average pool, linear classifier.
 */
function resnetParameters(stem: number, stages: Array<[channels: number, blocks: number, stride: number]>, classes: number): number {
  let total = conv(3, stem, 3, false) + bn(stem);
  let cin = stem;
  for (const [c, blocks, stride] of stages) {
    for (let b = 0; b < blocks; b++) {
      const s = b === 0 ? stride : 1;
      total += conv(cin, c, 3, false) + bn(c) + conv(c, c, 3, false) + bn(c);
      if (s !== 1 || cin !== c) total += conv(cin, c, 1, false) + bn(c);
      cin = c;
    }
  }
  return total + linear(cin, classes);
}

describe('parameter counts (PyTorch convention: BN gamma/beta trainable, running stats not)', () => {
  it('cnn has exactly the 3,249,994 parameters of CIFAR10CNN', () => {
    const model = buildModel({ name: 'cnn', seed: 1 });
    const expected =
      conv(3, 64, 3, true) +
      bn(64) +
      conv(64, 64, 3, true) +
      bn(64) +
      conv(64, 128, 3, true) +
      bn(128) +
      conv(128, 128, 3, true) +
      bn(128) +
      conv(128, 256, 3, true) +
      bn(256) +
      conv(256, 256, 3, true) +
      bn(256) +
      linear(4096, 512) +
      linear(512, 10);
    expect(expected).toBe(3_249_994);
    const counts = countParameters(model);
    expect(counts.trainable).toBe(3_249_994);
    // running mean + variance of the 6 BN layers
    expect(counts.nonTrainable).toBe(2 * (64 + 64 + 128 + 128 + 256 + 256));
    model.dispose();
  });

  it('resnet (ResNet-20, projection shortcuts) matches the layout formula: 272,474', () => {
    const layout: Array<[number, number, number]> = [
      [16, 3, 1],
      [32, 3, 2],
      [64, 3, 2],
    ];
    const expected = resnetParameters(16, layout, 10);
    // ResNet-20 with option A (parameter-free) shortcuts is the well-known 269,722;
    // option B adds conv1x1(16->32)+BN(32) and conv1x1(32->64)+BN(64).
    expect(expected).toBe(269_722 + conv(16, 32, 1, false) + bn(32) + conv(32, 64, 1, false) + bn(64));
    expect(RESNET20_LAYOUT.stemChannels).toBe(16);
    expect(RESNET20_LAYOUT.stages.map((s) => [s.channels, s.blocks, s.stride])).toEqual(layout);
    const model = buildModel({ name: 'resnet', seed: 1 });
    expect(countParameters(model).trainable).toBe(expected);
    expect(expected).toBe(272_474);
    model.dispose();
  });

  it('resnet18 (kuangliu CIFAR version) has 11,173,962 parameters', () => {
    const layout: Array<[number, number, number]> = [
      [64, 2, 1],
      [128, 2, 2],
      [256, 2, 2],
      [512, 2, 2],
    ];
    expect(resnetParameters(64, layout, 10)).toBe(11_173_962);
    expect(RESNET18_LAYOUT.stages.map((s) => [s.channels, s.blocks, s.stride])).toEqual(layout);
    const model = buildModel({ name: 'resnet18', seed: 1 });
    expect(countParameters(model).trainable).toBe(11_173_962);
    model.dispose();
  });

  it('resnet34 (CIFAR stem) follows its 3-4-6-3 layout', () => {
    const layout: Array<[number, number, number]> = [
      [64, 3, 1],
      [128, 4, 2],
      [256, 6, 2],
      [512, 3, 2],
    ];
    expect(RESNET34_LAYOUT.stages.map((s) => [s.channels, s.blocks, s.stride])).toEqual(layout);
    const model = buildModel({ name: 'resnet34', seed: 1 });
    expect(countParameters(model).trainable).toBe(resnetParameters(64, layout, 10));
    model.dispose();
  });

  // torchvision's published counts (resnet18: 11,689,512; resnet34: 21,797,672).
  it.each([
    ['resnet18', 11_689_512],
    ['resnet34', 21_797_672],
  ] as const)("%s with the ImageNet stem and 1000 classes has torchvision's %i parameters", (name, count) => {
    const model = buildModel({ name, seed: 1, numClasses: 1000, inputShape: [64, 64, 3], stem: 'imagenet' });
    expect(countParameters(model).trainable).toBe(count);
    model.dispose();
  });

  it('numClasses changes only the classifier', () => {
    const model = buildModel({ name: 'resnet', seed: 1, numClasses: 100 });
    expect(countParameters(model).trainable).toBe(272_474 - linear(64, 10) + linear(64, 100));
    model.dispose();
  });
});
