import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/runtime/config/config-error.js';
import {
  checkRunnable,
  loadSweepSpec,
  parseSetOverride,
  parseSweepSpec,
  SpecRequiresError,
  SweepSpecError,
} from '../../../services/sweep/sweep-spec.js';

const FILE = 'examples/x.yaml';

const SPEC = `
name: aug
description: three presets
metric: testAccuracy
base:
  model: cnn
  epochs: 30
  lr: 0.1
  mixup: 0.2
parameters:
  augment: [none, basic, full]
  weightDecay: { distribution: log-uniform, min: 0.0001, max: 0.001 }
samples: 2
repeats: 2
parallel: 2
pruning: { rule: asha, gracePeriod: 2 }
scales:
  quick:
    base: { epochs: 3, limitTrain: 5000 }
    parameters: { augment: [none, full] }
    repeats: 1
    pruning: { reductionFactor: 2 }
  full: {}
`;

/** The error parseSweepSpec throws for `text` (it must throw). */
function refusal(text: string, options = {}): SweepSpecError {
  try {
    parseSweepSpec(text, FILE, options);
  } catch (err) {
    expect(err).toBeInstanceOf(SweepSpecError);
    expect(err).toBeInstanceOf(ConfigError); // exit 2
    return err as SweepSpecError;
  }
  throw new Error('expected a refusal');
}

describe('sweep spec', () => {
  it('reads a spec: canonical keys, defaults, pruning defaults filled', () => {
    const spec = parseSweepSpec(SPEC, FILE);
    expect(spec).toMatchObject({
      file: FILE,
      name: 'aug',
      description: 'three presets',
      metric: 'testAccuracy',
      scale: null,
      base: { model: 'cnn', epochs: 30, lr: 0.1, mixupAlpha: 0.2 },
      parameters: {
        augment: { kind: 'grid', values: ['none', 'basic', 'full'] },
        weightDecay: { kind: 'log-uniform', min: 0.0001, max: 0.001 },
      },
      samples: 2,
      repeats: 2,
      parallel: 2,
      workersPerTrial: 1,
      pruning: { rule: 'asha', gracePeriod: 2, reductionFactor: 3 },
      requires: null,
      variants: null,
      ablation: null,
    });
  });

  it('merges a scale over the spec: maps key by key, the rest replaced', () => {
    const spec = parseSweepSpec(SPEC, FILE, { scale: 'quick' });
    expect(spec.scale).toBe('quick');
    expect(spec.base).toEqual({ model: 'cnn', epochs: 3, lr: 0.1, mixupAlpha: 0.2, limitTrain: 5000 });
    expect(spec.parameters.augment).toEqual({ kind: 'grid', values: ['none', 'full'] });
    expect(spec.parameters.weightDecay?.kind).toBe('log-uniform');
    expect(spec.repeats).toBe(1);
    expect(spec.pruning).toEqual({ rule: 'asha', gracePeriod: 2, reductionFactor: 2 });
    expect(parseSweepSpec(SPEC, FILE, { scale: 'full' }).base).toEqual(parseSweepSpec(SPEC, FILE).base);
    const named = `${SPEC}variants:\n  a: { epochs: 10, lr: 0.2 }\n  b: {}\n`.replace(
      '    pruning: { reductionFactor: 2 }\n',
      '    pruning: { reductionFactor: 2 }\n    variants: { a: { epochs: 2 }, c: { lr: 0.05 } }\n',
    );
    expect(parseSweepSpec(named, FILE, { scale: 'quick' }).variants).toEqual({ a: { epochs: 2, lr: 0.2 }, b: {}, c: { lr: 0.05 } });
    expect(refusal(SPEC, { scale: 'huge' }).message).toBe(`${FILE}: scales: no scale "huge" (the spec has quick, full)`);
  });

  it('applies --set over base, parameters, variants and ablation', () => {
    const text = `${SPEC}\nvariants:\n  small: { batchSize: 32 }\n  large: { batchSize: 256 }\nablation:\n  mixup: { mixupAlpha: 0 }\n`;
    const spec = parseSweepSpec(text, FILE, { set: ['model=tiny', 'augment=basic', 'batchSize=64', 'mixup=0.5', 'limitTrain=300'] });
    expect(spec.base).toMatchObject({ model: 'tiny', augment: 'basic', batchSize: 64, mixupAlpha: 0.5, limitTrain: 300 });
    expect(Object.keys(spec.parameters)).toEqual(['weightDecay']);
    expect(spec.variants).toEqual({ small: {}, large: {} });
    expect(spec.ablation).toEqual({ mixup: {} });
    expect(refusal(SPEC, { set: ['lr=-1'] }).message).toBe(`${FILE}: --set lr=-1: Too small: expected number to be >0`);
    expect(refusal(SPEC, { set: ['bogus=1'] }).message).toMatch(/--set bogus=1: "bogus" is not a fleet train key/);
    expect(() => parseSweepSpec(SPEC, FILE, { set: ['model'] })).toThrow(/expected key=value/);
  });

  it('reads --set values as YAML scalars', () => {
    expect(parseSetOverride('lr=5e-4')).toEqual({ key: 'lr', value: 0.0005 });
    expect(parseSetOverride('allowPartial=true')).toEqual({ key: 'allowPartial', value: true });
    expect(parseSetOverride('dataDir=a=b')).toEqual({ key: 'dataDir', value: 'a=b' });
    expect(parseSetOverride('model=tiny')).toEqual({ key: 'model', value: 'tiny' });
  });

  it('names the file and key path of every bad value, by the train config rules', () => {
    const bad = (path: string, yaml: string) => refusal(yaml).message.startsWith(`${FILE}: ${path}: `);
    expect(refusal('name: a\nbase: { lr: -1 }\n').message).toBe(`${FILE}: base.lr: Too small: expected number to be >0 (got -1)`);
    expect(bad('base.epochs', 'name: a\nbase: { epochs: 2.5 }\n')).toBe(true);
    expect(bad('base.augment', 'name: a\nbase: { augment: heavy }\n')).toBe(true);
    expect(bad('base.limitTrain', 'name: a\nbase: { limitTrain: null }\n')).toBe(true);
    expect(bad('base.model', 'name: a\nbase: { model: [cnn] }\n')).toBe(true);
    expect(bad('parameters.augment[1]', 'name: a\nparameters: { augment: [none, heavy] }\n')).toBe(true);
    expect(bad('parameters.lr.min', 'name: a\nparameters: { lr: { distribution: uniform, min: 0, max: 1 } }\nsamples: 2\n')).toBe(true);
    expect(bad('parameters.lr.max', 'name: a\nparameters: { lr: { distribution: uniform, min: 1, max: 0.5 } }\nsamples: 2\n')).toBe(true);
    expect(bad('parameters.lr.distribution', 'name: a\nparameters: { lr: { distribution: normal } }\nsamples: 2\n')).toBe(true);
    expect(bad('parameters.lr', 'name: a\nparameters: { lr: 0.1 }\n')).toBe(true);
    expect(bad('parameters.lr', 'name: a\nparameters: { lr: [] }\n')).toBe(true);
    expect(bad('variants.big.batchSize', 'name: a\nvariants: { big: { batchSize: 0 } }\n')).toBe(true);
    expect(bad('ablation.cutmix.cutmixAlpha', 'name: a\nablation: { cutmix: { cutmixAlpha: -1 } }\n')).toBe(true);
    // Every scale is checked, even one not asked for.
    expect(bad('scales.full.base.momentum', 'name: a\nscales: { full: { base: { momentum: 1 } } }\n')).toBe(true);
    expect(bad('scales.quick.repeats', 'name: a\nscales: { quick: { repeats: 0 } }\n')).toBe(true);
  });

  it('refuses keys fleet train does not have, and the ones the sweep sets itself', () => {
    expect(refusal('name: a\nbase: { learningRate: 0.1 }\n').message).toMatch(
      /^examples\/x\.yaml: base\.learningRate: "learningRate" is not a fleet train key/,
    );
    expect(refusal('name: a\nbase: { workers: 2 }\n').message).toBe(`${FILE}: base.workers: set by the sweep: use workersPerTrial`);
    expect(refusal('name: a\nbase: { out: x }\n').message).toMatch(/base\.out: set by the sweep/);
    expect(refusal('name: a\nparameters: { runId: [a, b] }\n').message).toMatch(/parameters\.runId: set by the sweep/);
    // Derived from each trial's own batchSize and workers: a spec value would be stale (or a renamed batchSize).
    expect(refusal('name: a\nparameters: { globalBatch: [64, 128] }\n').message).toBe(
      `${FILE}: parameters.globalBatch: derived by fleet train (the trial's batchSize x workersPerTrial): set batchSize`,
    );
    expect(refusal(SPEC, { set: ['globalBatch=64'] }).message).toMatch(/--set globalBatch=64: derived by fleet train/);
    expect(refusal('name: a\nbase: { mixup: 0.2, mixupAlpha: 0.2 }\n').message).toMatch(/base\.mixupAlpha: sets mixupAlpha again/);
    expect(refusal('name: a\nbogus: 1\n').message).toBe(`${FILE}: bogus: unknown key`);
    expect(refusal('name: a\npruning: { rule: asha, grace: 1 }\n').message).toBe(`${FILE}: pruning.grace: unknown key`);
    expect(refusal('name: a\npruning: { rule: hyperband }\n').message).toMatch(/^examples\/x\.yaml: pruning\.rule: /);
    expect(refusal('name: a b\n').message).toMatch(/^examples\/x\.yaml: name: letters, digits/);
    expect(refusal('base: {}\n').message).toMatch(/^examples\/x\.yaml: name: /);
    expect(refusal('name: a\nmetric: loss\n').message).toMatch(/^examples\/x\.yaml: metric: /);
  });

  it('refuses inconsistent search spaces', () => {
    expect(refusal('name: a\nparameters: { lr: { distribution: uniform, min: 0.1, max: 1 } }\n').message).toMatch(/samples: required/);
    expect(refusal('name: a\nparameters: { lr: [0.1, 0.2] }\nsamples: 3\n').message).toMatch(/samples: only for distributions/);
    expect(refusal('name: a\nparameters: { mixup: [0.1], mixupAlpha: [0.2] }\n').message).toMatch(/varies mixupAlpha again/);
    expect(refusal('name: a\nparameters: { cutmix: [0, 1] }\nablation: { cutmix: { cutmixAlpha: 0 } }\n').message).toMatch(
      /ablation\.cutmix\.cutmixAlpha: cutmixAlpha is also a parameter/,
    );
    expect(refusal('name: a\nablation: { none: { cutmixAlpha: 0 } }\n').message).toMatch(/ablation\.none: 'none' names the reference/);
    expect(refusal('name: a\nvariants: {}\n').message).toMatch(/variants: needs at least one entry/);
  });

  it('takes text values as fleet train --config does ("0.1", "yes")', () => {
    const spec = parseSweepSpec('name: a\nbase: { lr: "0.1", allowPartial: "yes", limitTrain: "300" }\n', FILE);
    expect(spec.base).toEqual({ lr: 0.1, allowPartial: true, limitTrain: 300 });
  });

  it('a spec that requires a missing feature parses with its future keys pending, and refuses to run', () => {
    const spec = parseSweepSpec(
      // distillFrom, teacherWeight: keys of a feature fleet train does not have.
      'name: tl\nrequires: issue 16 (transfer learning)\nbase: { model: resnet18, epochs: 30 }\nvariants:\n  pretrained: { distillFrom: w.safetensors, teacherWeight: 10 }\n  scratch: {}\n',
      FILE,
    );
    expect(spec.pendingKeys).toEqual(['distillFrom', 'teacherWeight']);
    expect(spec.variants?.pretrained).toEqual({ distillFrom: 'w.safetensors', teacherWeight: 10 });
    expect(() => checkRunnable(spec)).toThrow(SpecRequiresError);
    expect(() => checkRunnable(spec)).toThrow(`${FILE} cannot run yet: issue 16 (transfer learning)`);
    // Known keys are still checked.
    expect(refusal('name: tl\nrequires: x\nbase: { lr: 0 }\n').message).toMatch(/base\.lr: /);
    expect(() => checkRunnable(parseSweepSpec('name: a\n', FILE))).not.toThrow();
  });

  it('names a file that is missing, not YAML or not a mapping', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleet-spec-'));
    try {
      await expect(loadSweepSpec(join(dir, 'none.yaml'))).rejects.toThrow(`${join(dir, 'none.yaml')}: cannot be read (ENOENT)`);
      await writeFile(join(dir, 'bad.yaml'), 'name: [a\n');
      await expect(loadSweepSpec(join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml: is not valid YAML/);
      await writeFile(join(dir, 'list.yaml'), '- a\n');
      await expect(loadSweepSpec(join(dir, 'list.yaml'))).rejects.toThrow(/list\.yaml: must be a mapping/);
      await writeFile(join(dir, 'ok.yaml'), SPEC);
      expect((await loadSweepSpec(join(dir, 'ok.yaml'), { scale: 'quick' })).base.epochs).toBe(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
