import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { expandTrials, variedKeys } from '../../../services/sweep/search-space.js';
import { checkRunnable, loadSweepSpec, SpecRequiresError } from '../../../services/sweep/sweep-spec.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples', import.meta.url));
const specs = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
/** What the smoke test of the sweep sets on every spec: a tiny model on a few hundred images. */
const SMOKE = ['model=tiny', 'limitTrain=300', 'limitTest=200', 'epochs=1', 'batchSize=32'];

describe('the exercise specs in examples/', () => {
  it('are the five exercises', () => {
    expect(specs).toEqual([
      '1-baseline-cnn.yaml',
      '2-augmentation.yaml',
      '3-mixup.yaml',
      '4-transfer-resnet18.yaml',
      '5-everything-ablation.yaml',
    ]);
  });

  for (const name of specs) {
    const file = join(EXAMPLES, name);
    it(`${name} parses and expands at every scale, and at the smoke settings`, async () => {
      const scales = Object.keys((parseYaml(readFileSync(file, 'utf8')) as { scales?: object }).scales ?? {});
      expect(scales).toEqual(expect.arrayContaining(['quick', 'full']));
      for (const scale of [null, ...scales]) {
        for (const set of [[], SMOKE]) {
          const spec = await loadSweepSpec(file, { scale, set });
          const trials = expandTrials(spec);
          expect(trials.length).toBeGreaterThan(0);
          expect(spec.description).toBeTruthy();
          if (spec.requires === null) {
            expect(spec.pendingKeys).toEqual([]);
            expect(() => checkRunnable(spec)).not.toThrow();
          } else {
            expect(() => checkRunnable(spec)).toThrow(SpecRequiresError);
          }
          if (set === SMOKE) expect(trials.every((t) => t.config.model === 'tiny' && t.config.epochs === 1)).toBe(true);
        }
      }
      // The quick scale is small: a subset of the images and a few epochs.
      const quick = await loadSweepSpec(file, { scale: 'quick' });
      expect(quick.base.limitTrain).toBeLessThanOrEqual(5000);
      expect(quick.base.epochs).toBeLessThanOrEqual(5);
      // ...which data_batch_1.bin alone holds (a partial copy of CIFAR-10 is enough).
      expect(quick.base.allowPartial).toBe(true);
      // The full scale is the exercise's own, on all the data.
      const full = await loadSweepSpec(file, { scale: 'full' });
      expect(full.base.limitTrain).toBeUndefined();
      expect(full.base.epochs).toBeGreaterThanOrEqual(30);
    });
  }

  it('match their exercises', async () => {
    const load = (n: string, scale: string) => loadSweepSpec(join(EXAMPLES, n), { scale });
    const baseline = await load('1-baseline-cnn.yaml', 'full');
    expect(baseline.base).toMatchObject({ model: 'cnn', epochs: 50, augment: 'full' });
    // Acceptance 1: the quick scale of exercise 2 runs 3 trials, 2 at a time.
    const aug = await load('2-augmentation.yaml', 'quick');
    expect(expandTrials(aug).map((t) => t.params.augment)).toEqual(['none', 'basic', 'full']);
    expect(aug.parallel).toBe(2);
    expect((await load('2-augmentation.yaml', 'full')).base.epochs).toBe(30);
    const mixup = await load('3-mixup.yaml', 'full');
    expect(mixup.base).toMatchObject({ model: 'cnn', epochs: 50 });
    expect(mixup.parameters.mixupAlpha).toEqual({ kind: 'grid', values: [0, 0.2, 0.5, 1.0] });
    const transfer = await load('4-transfer-resnet18.yaml', 'full');
    expect(transfer.requires).toMatch(/ImageNet ResNet-18 weights/);
    expect(transfer.base).toMatchObject({ model: 'resnet18', epochs: 30 });
    expect(Object.keys(transfer.variants ?? {})).toEqual(['pretrained', 'scratch', 'frozen-then-fine-tuned']);
    expect(transfer.variants?.['frozen-then-fine-tuned']?.freezeEpochs).toBe(10);
    expect((await load('4-transfer-resnet18.yaml', 'quick')).variants?.['frozen-then-fine-tuned']).toMatchObject({
      freezeEpochs: 1,
      stem: 'cifar',
    });
    const everything = await load('5-everything-ablation.yaml', 'full');
    expect(everything.base).toMatchObject({ model: 'resnet', epochs: 100, augment: 'full', cutmixAlpha: 1, labelSmoothing: 0.1, minLr: 0 });
    expect(variedKeys(everything)).toEqual(['without']);
    expect(expandTrials(everything).map((t) => t.params.without)).toEqual([
      'none',
      'residual',
      'augmentation',
      'cutmix',
      'labelSmoothing',
      'cosine',
      'none',
      'residual',
      'augmentation',
      'cutmix',
      'labelSmoothing',
      'cosine',
    ]);
  });
});
