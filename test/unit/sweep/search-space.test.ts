import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configYaml, expandTrials, variedKeys } from '../../../services/sweep/search-space.js';
import { parseSweepSpec, SweepSpecError } from '../../../services/sweep/sweep-spec.js';

const spec = (text: string, options = {}) => parseSweepSpec(text, 'x.yaml', options);

describe('search space', () => {
  it('crosses grid lists (first key slowest), repeats after every configuration, seed = base seed + repeat', () => {
    const trials = expandTrials(
      spec('name: g\nbase: { seed: 7, epochs: 2 }\nparameters:\n  augment: [none, full]\n  lr: [0.1, 0.05]\nrepeats: 2\n'),
    );
    expect(trials.map((t) => t.id)).toEqual(['t000', 't001', 't002', 't003', 't004', 't005', 't006', 't007']);
    expect(trials.map((t) => [t.params.augment, t.params.lr, t.repeat, t.seed])).toEqual([
      ['none', 0.1, 0, 7],
      ['none', 0.05, 0, 7],
      ['full', 0.1, 0, 7],
      ['full', 0.05, 0, 7],
      ['none', 0.1, 1, 8],
      ['none', 0.05, 1, 8],
      ['full', 0.1, 1, 8],
      ['full', 0.05, 1, 8],
    ]);
    // A configuration's repeats share its key; different configurations do not.
    expect(trials[0]!.configKey).toBe(trials[4]!.configKey);
    expect(new Set(trials.map((t) => t.configKey)).size).toBe(4);
    expect(trials[6]!.config).toEqual({ seed: 8, epochs: 2, augment: 'full', lr: 0.1 });
  });

  it('one trial per repeat without parameters; seed 1 by default; ids widen past 1000 trials', () => {
    const single = expandTrials(spec('name: one\nrepeats: 3\n'));
    expect(single.map((t) => [t.id, t.seed, t.configKey])).toEqual([
      ['t000', 1, '{}'],
      ['t001', 2, '{}'],
      ['t002', 3, '{}'],
    ]);
    const many = expandTrials(spec(`name: many\nparameters: { seed: [${Array.from({ length: 1001 }, (_, i) => i).join(', ')}] }\n`));
    expect(many[0]!.id).toBe('t0000');
    expect(many.at(-1)!.id).toBe('t1000');
    // A varied seed is each configuration's seed.
    expect(many.at(-1)!.seed).toBe(1000);
    expect(many.at(-1)!.config.seed).toBe(1000);
  });

  it('draws distributions deterministically (seeded by the spec), inside their ranges, and crosses each draw with the grids', () => {
    const text = [
      'name: rnd',
      'parameters:',
      '  augment: [basic, full]',
      '  lr: { distribution: log-uniform, min: 0.001, max: 0.3 }',
      '  momentum: { distribution: uniform, min: 0.8, max: 0.95 }',
      '  batchSize: { distribution: choice, values: [32, 64, 128] }',
      '  epochs: { distribution: uniform, min: 2, max: 9 }',
      'samples: 20',
      '',
    ].join('\n');
    const a = expandTrials(spec(text));
    expect(a).toHaveLength(40);
    expect(expandTrials(spec(text))).toEqual(a);
    for (let s = 0; s < 20; s++) {
      const [x, y] = [a[2 * s]!.params, a[2 * s + 1]!.params];
      expect([x.augment, y.augment]).toEqual(['basic', 'full']);
      expect({ ...x, augment: 0 }).toEqual({ ...y, augment: 0 }); // one draw, crossed with the grid
      expect(x.lr).toBeGreaterThanOrEqual(0.001);
      expect(x.lr).toBeLessThanOrEqual(0.3);
      expect(Number((x.lr as number).toPrecision(4))).toBe(x.lr);
      expect(x.momentum).toBeGreaterThanOrEqual(0.8);
      expect(x.momentum).toBeLessThanOrEqual(0.95);
      expect([32, 64, 128]).toContain(x.batchSize);
      expect(Number.isInteger(x.epochs)).toBe(true); // an integer key draws integers
      expect(x.epochs).toBeGreaterThanOrEqual(2);
      expect(x.epochs).toBeLessThanOrEqual(9);
    }
    // Log-uniform spreads over decades: some draws below 0.01, some above 0.03.
    const lrs = a.map((t) => t.params.lr as number);
    expect(lrs.some((v) => v < 0.01) && lrs.some((v) => v > 0.03)).toBe(true);
    expect(new Set(a.map((t) => t.params.batchSize)).size).toBe(3);
    // Another name or base seed draws other values.
    expect(expandTrials(spec(text.replace('name: rnd', 'name: rnd2')))[0]!.params.lr).not.toBe(a[0]!.params.lr);
    expect(expandTrials(spec(text, { set: ['seed=2'] }))[0]!.params.lr).not.toBe(a[0]!.params.lr);
  });

  it('variants and an ablation are dimensions of their own (params.variant, params.without with the reference first)', () => {
    const s = spec(
      [
        'name: abl',
        'base: { model: resnet, augment: full, cutmixAlpha: 1, labelSmoothing: 0.1, lr: 0.1 }',
        'variants: { short: { epochs: 2 }, long: { epochs: 4 } }',
        'ablation:',
        '  residual: { model: cnn }',
        '  cutmix: { cutmix: 0 }',
        '  cosine: { minLr: 0.1 }',
        'parameters: { batchSize: [32, 64] }',
        '',
      ].join('\n'),
    );
    expect(variedKeys(s)).toEqual(['variant', 'without', 'batchSize']);
    const trials = expandTrials(s);
    expect(trials).toHaveLength(2 * 4 * 2);
    expect(trials.slice(0, 8).map((t) => `${t.params.variant}/${t.params.without}/${t.params.batchSize}`)).toEqual([
      'short/none/32',
      'short/none/64',
      'short/residual/32',
      'short/residual/64',
      'short/cutmix/32',
      'short/cutmix/64',
      'short/cosine/32',
      'short/cosine/64',
    ]);
    const byName = (v: string, w: string) => trials.find((t) => t.params.variant === v && t.params.without === w)!.config;
    expect(byName('long', 'none')).toEqual({
      model: 'resnet',
      augment: 'full',
      cutmixAlpha: 1,
      labelSmoothing: 0.1,
      lr: 0.1,
      epochs: 4,
      batchSize: 32,
      seed: 1,
    });
    expect(byName('short', 'residual').model).toBe('cnn');
    expect(byName('short', 'cutmix').cutmixAlpha).toBe(0);
    expect(byName('short', 'cosine').minLr).toBe(0.1);
    expect(Object.keys(byName('short', 'none'))).not.toContain('variant');
  });

  it("refuses a trial fleet train would refuse: minLr above the trial's lr", () => {
    const s = spec('name: x\nbase: { minLr: 0.05 }\nparameters: { lr: [0.1, 0.01] }\n');
    expect(() => expandTrials(s)).toThrow(SweepSpecError);
    expect(() => expandTrials(s)).toThrow('x.yaml: trial t001 {"lr":0.01}: minLr 0.05 must not exceed lr 0.01');
  });

  it('writes a trial config as a --config file that reads back to the same values', () => {
    const config = { model: 'cnn', lr: 0.05, augment: 'none', allowPartial: false, dataDir: '123', seed: 3 };
    const text = configYaml(config, ['sweep s, trial t000', 'second line']);
    expect(text.split('\n').slice(0, 2)).toEqual(['# sweep s, trial t000', '# second line']);
    expect(parseYaml(text)).toEqual(config);
  });
});
