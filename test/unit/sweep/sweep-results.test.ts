import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configYaml } from '../../../services/sweep/search-space.js';
import { resultsCsv, summarizeConfigurations, writeSweepResults } from '../../../services/sweep/sweep-results.js';
import type { SweepRecord, TrialRecord } from '../../../src/training/run-record/sweep-record.js';

/** A trial with its curve; best is the curve's highest point (what the driver records). */
function trial(id: string, params: TrialRecord['params'], repeat: number, status: TrialRecord['status'], values: number[]): TrialRecord {
  const curve = values.map((value, i) => ({ epoch: i + 1, value }));
  const best = curve.reduce<TrialRecord['best']>((b, p) => (b === null || p.value > b.value ? p : b), null);
  return {
    id,
    params,
    seed: 1 + repeat,
    repeat,
    configKey: JSON.stringify(params),
    status,
    runDir: `trials/${id}`,
    epochsRun: curve.length,
    best,
    curve,
    prunedAt:
      status === 'pruned'
        ? { epoch: curve.length, rule: 'asha', reason: 'rung epoch 1: 0.1 ranks 3 of 3, only the top 1 (1/3) continue' }
        : null,
    error: status === 'failed' ? 'exit 1: loss is NaN | diverged' : null,
    startedAt: status === 'pending' ? null : '2025-01-01T00:00:00.000Z',
    endedAt: status === 'pending' || status === 'running' ? null : '2025-01-01T00:10:00.000Z',
  };
}

const none = { augment: 'none', lr: 0.1 };
const full = { augment: 'full', lr: 0.1 };
const fast = { augment: 'full', lr: 0.3 };

function record(): SweepRecord {
  return {
    format: 1,
    sweepId: 'aug-20250101-000000-beef',
    name: 'aug',
    description: 'Exercise 2: which augmentation matters most?',
    specFile: 'examples/2-augmentation.yaml',
    scale: 'quick',
    metric: 'testAccuracy',
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T01:00:00.000Z',
    status: 'finished',
    varied: ['augment', 'lr'],
    pruning: { rule: 'asha', gracePeriod: 1, reductionFactor: 3 },
    trials: [
      trial('t000', none, 0, 'finished', [0.4, 0.52, 0.5]),
      trial('t001', full, 0, 'finished', [0.45, 0.6, 0.62]),
      trial('t002', fast, 0, 'pruned', [0.1]),
      trial('t003', none, 1, 'finished', [0.41, 0.55, 0.54]),
      trial('t004', full, 1, 'finished', [0.44, 0.58, 0.59]),
      trial('t005', fast, 1, 'failed', [0.1, 0.1]),
      trial('t006', none, 2, 'finished', [0.43, 0.49, 0.5]),
      trial('t007', full, 2, 'pruned', [0.2]),
      trial('t008', fast, 2, 'pending', []),
    ],
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sampleStd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-sweep-results-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sweep results', () => {
  it('summarizes each configuration over its finished repeats, sorted by mean (sample std, n, status counts)', () => {
    const s = summarizeConfigurations(record());
    expect(s.map((c) => c.params)).toEqual([full, none, fast]);
    const fullValues = [0.62, 0.59]; // t001, t004 finished; t007 was pruned
    const noneValues = [0.52, 0.55, 0.5]; // the bests of t000, t003, t006 (repeats 0, 1, 2)
    expect(s[0]!.values).toEqual(fullValues);
    expect(s[0]!.mean).toBeCloseTo(mean(fullValues), 12);
    expect(s[0]!.std).toBeCloseTo(sampleStd(fullValues), 12);
    expect(s[0]!.counts).toMatchObject({ finished: 2, pruned: 1, failed: 0 });
    expect(s[1]!.values).toEqual(noneValues);
    expect(s[1]!.mean).toBeCloseTo(mean(noneValues), 12);
    expect(s[1]!.std).toBeCloseTo(sampleStd(noneValues), 12);
    expect(s[2]).toMatchObject({ values: [], mean: null, std: null, counts: { pruned: 1, failed: 1, pending: 1, finished: 0 } });
  });

  it('writes results.csv, results.md and best.yaml from the best configuration’s trial config', async () => {
    const r = record();
    await mkdir(join(dir, 'trials'));
    const t001Config = { model: 'cnn', epochs: 3, limitTrain: 5000, augment: 'full', lr: 0.1, seed: 1 };
    await writeFile(join(dir, 'trials', 't001.yaml'), configYaml(t001Config, ['sweep aug, trial t001']));
    await writeSweepResults(dir, r);
    expect((await readdir(dir)).sort()).toEqual(['best.yaml', 'results.csv', 'results.md', 'trials']);

    const csv = (await readFile(join(dir, 'results.csv'), 'utf8')).trimEnd().split('\n');
    expect(csv[0]).toBe('id,augment,lr,seed,status,epochs,best,bestEpoch');
    expect(csv).toHaveLength(1 + r.trials.length);
    expect(csv[2]).toBe('t001,full,0.1,1,finished,3,0.62,3');
    expect(csv[9]).toBe('t008,full,0.3,3,pending,0,,');

    const md = await readFile(join(dir, 'results.md'), 'utf8');
    const pct = (x: number) => (x * 100).toFixed(2);
    const fullRow = `| 1 | full | 0.1 | ${pct(mean([0.62, 0.59]))} ± ${pct(sampleStd([0.62, 0.59]))} | 2 | 2 finished, 1 pruned |`;
    const noneRow = `| 2 | none | 0.1 | ${pct(mean([0.52, 0.55, 0.5]))} ± ${pct(sampleStd([0.52, 0.55, 0.5]))} | 3 | 3 finished |`;
    const fastRow = '|  | full | 0.3 | – | 0 | 1 pending, 1 pruned, 1 failed |';
    const lines = md.split('\n');
    expect(lines.indexOf(fullRow)).toBeGreaterThan(0);
    expect(lines.indexOf(noneRow)).toBe(lines.indexOf(fullRow) + 1);
    expect(lines.indexOf(fastRow)).toBe(lines.indexOf(fullRow) + 2);
    expect(md).toContain('Exercise 2: which augmentation matters most?');
    expect(md).toContain('pruning: asha (grace period 1, reduction factor 3)');
    expect(md).toContain('| t007 | full | 0.1 | 3 | pruned | 1 | 20.00 | 1 | pruned at epoch 1 (asha): rung epoch 1');
    expect(md).toContain('| t005 | full | 0.3 | 2 | failed | 2 | 10.00 | 1 | error: exit 1: loss is NaN \\| diverged |');
    expect(md).toContain('| t008 | full | 0.3 | 3 | pending | 0 | – | – |  |');

    const best = await readFile(join(dir, 'best.yaml'), 'utf8');
    expect(parseYaml(best)).toEqual(t001Config);
    expect(best.split('\n')[0]).toMatch(
      /^# The best configuration of sweep aug-20250101-000000-beef \(aug, examples\/2-augmentation\.yaml, scale quick\)/,
    );
    expect(best).toContain(
      `{"augment":"full","lr":0.1}: testAccuracy ${pct(mean([0.62, 0.59]))} ± ${pct(sampleStd([0.62, 0.59]))} % over n=2`,
    );
    expect(best).toContain('# Rerun it: fleet train --config best.yaml');
  });

  it('quotes CSV fields that need it, and writes no best.yaml before a trial finishes', async () => {
    const r = record();
    r.varied = ['note'];
    r.trials = [trial('t000', { note: 'a, "b"' }, 0, 'running', [0.3])];
    expect(resultsCsv(r).split('\n')[1]).toBe('t000,"a, ""b""",1,running,1,0.3,1');
    await writeSweepResults(dir, r);
    expect((await readdir(dir)).sort()).toEqual(['results.csv', 'results.md']);
  });

  it('names the trial config it cannot read for best.yaml', async () => {
    await expect(writeSweepResults(dir, record())).rejects.toThrow(`${join(dir, 'trials', 't001.yaml')}: cannot make best.yaml from it`);
  });
});
