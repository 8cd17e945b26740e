import { describe, expect, it } from 'vitest';
import { testConfig } from '../../helpers/test-config.js';

/** --stem: a run key with the default of the CIFAR adaptation; only torchvision's ResNet layouts have a choice. */
describe('--stem', () => {
  const base = { dataDir: '/d', outDir: '/o' };
  it('defaults to cifar and accepts imagenet-conv1 for resnet18 and resnet34', () => {
    expect(testConfig(base).stem).toBe('cifar');
    for (const model of ['resnet18', 'resnet34'] as const)
      expect(testConfig({ ...base, model, stem: 'imagenet-conv1' }).stem).toBe('imagenet-conv1');
  });
  it('refuses imagenet-conv1 for a model without an ImageNet stem', () => {
    expect(() => testConfig({ ...base, model: 'tiny', stem: 'imagenet-conv1' })).toThrow(
      /--stem "imagenet-conv1": needs --model resnet18 or resnet34, not tiny/,
    );
  });
});
