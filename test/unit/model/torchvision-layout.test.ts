import { describe, expect, it } from 'vitest';
import { buildModel, type StemKind } from '../../../src/model/index.js';
import { applyTorchvisionResNet, torchvisionResNetLayout } from '../../../src/model/pretrained/index.js';
import { PretrainedWeightsError } from '../../../src/model/pretrained/errors.js';

/**
 * The layout the CLI checks a --pretrained header against (computed, no model
 * built) must be exactly what the importer needs from a built model: a file
 * with the layout's tensors (all zeros here) imports without a mismatch, and
 * one tensor fewer is reported as missing by the importer.
 */
describe('torchvisionResNetLayout', () => {
  const cases: [string, StemKind, number][] = [
    ['resnet18', 'cifar', 10],
    ['resnet18', 'imagenet-conv1', 10],
    ['resnet34', 'imagenet', 1000],
  ];
  it.each(cases)('%s with the %s stem and %i classes matches the built model', (name, stem, classes) => {
    const layout = torchvisionResNetLayout(name, stem, classes);
    const model = buildModel({ name: name as 'resnet18', seed: 1, stem, numClasses: classes });
    try {
      const tensors = new Map(
        layout.map((t) => [
          t.name,
          { name: t.name, dtype: 'F32' as const, shape: t.shape, values: new Float32Array(t.shape.reduce((a, d) => a * d, 1)) },
        ]),
      );
      const report = applyTorchvisionResNet(model, { tensors, metadata: {} }, 'layout', { skipConv1: false, skipHead: false });
      expect(report.loaded.length).toBe(layout.length);
      const dropped = layout[1]?.name ?? '';
      const fewer = new Map([...tensors].filter(([n]) => n !== dropped));
      let error: unknown;
      try {
        applyTorchvisionResNet(model, { tensors: fewer, metadata: {} }, 'layout', { skipConv1: false, skipHead: false });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PretrainedWeightsError);
      expect((error as PretrainedWeightsError).mismatches).toEqual([expect.objectContaining({ name: dropped, problem: 'missing' })]);
    } finally {
      model.dispose();
    }
  });

  it('refuses a model without torchvision weights', () => {
    expect(() => torchvisionResNetLayout('cnn', 'cifar', 10)).toThrow(/no torchvision layout for model cnn/);
  });
});
