import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SweepRecord, TrialRecord } from '../../src/training/run-record/index.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { trialFixture } from '../fixtures/sweep-records.js';
import { runFleet } from '../helpers/run-fleet.js';
import { pngFacts } from '../unit/report/png-check.js';

let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-report-sweep-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 192, testCount: 100, pattern: 'learnable', seed: 9 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function sweepRecord(o: { name: string; varied: string[]; trials: TrialRecord[]; rule?: 'asha' | 'none' }): SweepRecord {
  return {
    format: 1,
    sweepId: `${o.name}-20260101-000000-abcd`,
    name: o.name,
    description: `The ${o.name} test sweep.`,
    specFile: `examples/${o.name}.yaml`,
    scale: 'quick',
    metric: 'testAccuracy',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:05:00.000Z',
    status: 'finished',
    varied: o.varied,
    pruning: { rule: o.rule ?? 'none', gracePeriod: 1, reductionFactor: 3 },
    trials: o.trials,
  };
}

/** A tiny real `fleet train` into SWEEP_DIR/trials/<id>; its test accuracy per epoch. */
async function realTrial(sweepDir: string, id: string, flags: string[]): Promise<{ epoch: number; value: number }[]> {
  const out = join(sweepDir, 'trials', id);
  const base = ['--model', 'tiny', '--batch-size', '32', '--lr', '0.05', '--data-dir', dataDir, '--allow-partial', '--progress', 'off'];
  const r = await runFleet(['train', ...base, ...flags, '--out', out, '--run-id', `sweep-${id}`]);
  expect(r.code, r.stderr).toBe(0);
  const lines = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n');
  return lines.map((l) => JSON.parse(l) as { epoch: number; testAccuracy: number }).map((l) => ({ epoch: l.epoch, value: l.testAccuracy }));
}

async function expectRealReport(reportDir: string): Promise<{ readme: string; pngs: string[] }> {
  const files = await readdir(reportDir);
  const pngs = files.filter((f) => f.endsWith('.png')).sort();
  const readme = await readFile(join(reportDir, 'README.md'), 'utf8');
  const html = await readFile(join(reportDir, 'report.html'), 'utf8');
  for (const file of pngs) {
    const bytes = await readFile(join(reportDir, file));
    const facts = pngFacts(bytes);
    expect(facts.width, file).toBeGreaterThanOrEqual(500);
    expect(facts.height, file).toBeGreaterThanOrEqual(300);
    expect(facts.colours, `${file}: distinct colours`).toBeGreaterThan(20);
    expect(facts.nonBackground, `${file}: share of non-background pixels`).toBeGreaterThan(0.03);
    expect(facts.darkPixels, `${file}: text and lines`).toBeGreaterThan(500);
    expect(readme).toContain(`](${file})`);
    expect(html).toContain(`src="data:image/png;base64,${bytes.toString('base64')}"`);
  }
  return { readme, pngs };
}

const pct = (v: number) => (v * 100).toFixed(2);

describe('fleet report SWEEP_DIR', () => {
  it("an ablation of real tiny runs: every trial curve (pruned dashed), each parameter, the results, each technique's contribution in points, the best trial's scores and mistakes, mixed examples", async () => {
    const sweepDir = join(root, 'ablation');
    await mkdir(join(sweepDir, 'trials'), { recursive: true });
    const all = ['--epochs', '2', '--mixup', '0.2', '--label-smoothing', '0.1'];
    const [baseline, noMixup, noSmoothing, pruned] = await Promise.all([
      realTrial(sweepDir, 't000', all),
      realTrial(sweepDir, 't001', ['--epochs', '2', '--label-smoothing', '0.1']),
      realTrial(sweepDir, 't002', ['--epochs', '2', '--mixup', '0.2']),
      realTrial(sweepDir, 't003', ['--epochs', '1', '--mixup', '0.2', '--label-smoothing', '0.1', '--seed', '2']),
    ]);
    const record = sweepRecord({
      name: 'ablation',
      varied: ['without'],
      rule: 'asha',
      trials: [
        trialFixture('t000', { without: 'none' }, baseline!),
        trialFixture('t001', { without: 'mixup' }, noMixup!),
        trialFixture('t002', { without: 'labelSmoothing' }, noSmoothing!),
        trialFixture('t003', { without: 'none' }, pruned!, {
          seed: 2,
          repeat: 1,
          status: 'pruned',
          prunedAt: { epoch: 1, rule: 'asha', reason: 'below the rung cut-off' },
        }),
      ],
    });
    await writeFile(join(sweepDir, 'sweep.json'), JSON.stringify(record, null, 2));

    const result = await runFleet(['report', sweepDir, '--data-dir', dataDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('sweep report:');
    const { readme, pngs } = await expectRealReport(join(sweepDir, 'report'));
    // The best trial's test-set pictures, and mixed examples of each configuration that mixes (t001 goes without Mixup).
    expect(pngs).toEqual([
      'best-class-accuracy.png',
      'best-confusion.png',
      'best-mistakes.png',
      'contributions.png',
      'curves.png',
      'param-without.png',
      't000-mix.png',
      't002-mix.png',
    ]);

    expect(readme).toMatch(/^# Sweep report: ablation \(ablation-20260101-000000-abcd\)/);
    expect(readme).toContain('4 trials (3 finished, 1 pruned)');
    // The baseline counts its finished trial only: the pruned repeat stopped early.
    const bestOf = (curve: { value: number }[]) => Math.max(...curve.map((p) => p.value));
    const base = bestOf(baseline!);
    for (const [technique, curve] of [
      ['mixup', noMixup!],
      ['labelSmoothing', noSmoothing!],
    ] as const) {
      const points = (base - bestOf(curve)) * 100;
      expect(readme).toContain(`| ${technique} | ${pct(bestOf(curve))} | 1 | ${points >= 0 ? '+' : ''}${points.toFixed(2)} |`);
    }
    expect(readme).toContain('| t003 | none | 2 | pruned | 1 |');
    expect(readme).toContain('pruned at epoch 1 (asha): below the rung cut-off');
    expect(readme).toContain(`**Best configuration:**`);
    expect(readme).toMatch(/## The best trial: t00\d \(without=\w+\)/);
    expect(readme).toContain('**Most confused pairs**');
    expect(readme).toMatch(/test image \d+ taken for \w+ \(\d+\.\d%\)/);
    expect(readme).toContain('### t000: without=none');
    expect(readme).toMatch(/epoch 1 step \d: mixup, lambda 0\.\d{3}: \w+ with \w+/);
  });

  it('a grid over two parameters from sweep.json alone (no run directories): curves from the record, mean ± std over repeats, change per value', async () => {
    const sweepDir = join(root, 'grid');
    await mkdir(sweepDir, { recursive: true });
    const curve = (...values: number[]) => values.map((value, i) => ({ epoch: i + 1, value }));
    const trials = [
      trialFixture('t000', { augment: 'none', lr: 0.01 }, curve(0.3, 0.4, 0.42)),
      trialFixture('t001', { augment: 'none', lr: 0.01 }, curve(0.3, 0.38, 0.44), { seed: 2, repeat: 1 }),
      trialFixture('t002', { augment: 'full', lr: 0.01 }, curve(0.35, 0.5, 0.56)),
      trialFixture('t003', { augment: 'full', lr: 0.01 }, curve(0.36, 0.5, 0.58), { seed: 2, repeat: 1 }),
      trialFixture('t004', { augment: 'none', lr: 0.3 }, curve(0.1), {
        status: 'pruned',
        prunedAt: { epoch: 1, rule: 'median', reason: 'below the median' },
      }),
      trialFixture('t005', { augment: 'full', lr: 0.3 }, [], { status: 'failed', error: 'diverged' }),
    ];
    await writeFile(join(sweepDir, 'sweep.json'), JSON.stringify(sweepRecord({ name: 'grid', varied: ['augment', 'lr'], trials })));
    const out = join(root, 'grid-report');
    const result = await runFleet(['report', sweepDir, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    const { readme, pngs } = await expectRealReport(out);
    expect(pngs).toEqual(['curves.png', 'param-augment.png', 'param-lr.png']);
    expect(readme).not.toContain('Ablation');
    // Results: full first, mean ± sample std of 0.56 and 0.58.
    expect(readme).toContain('| 1 | full | 0.01 | 57.00 ± 1.41 | 2 | 58.00 | 2 finished |');
    expect(readme).toContain('| 2 | none | 0.01 | 43.00 ± 1.41 | 2 | 44.00 | 2 finished |');
    expect(readme).toContain('| 3 | none | 0.3 | 10.00 | 1 | 10.00 | 1 pruned |');
    expect(readme).toContain('| 4 | full | 0.3 | - | 0 | - | 1 failed |');
    // Per parameter: augment full vs none over the counted trials.
    expect(readme).toContain('| none | 32.00 ± 19.08 | 3 | - |');
    expect(readme).toContain('| full | 57.00 ± 1.41 | 2 | +25.00 |');
    expect(readme).toContain('| t005 | full | 0.3 | 1 | failed | 0 | - | - | diverged |');
  });

  it('a sweep.json that is not one is one fleet: line naming the file', async () => {
    const sweepDir = join(root, 'broken');
    await mkdir(sweepDir, { recursive: true });
    await writeFile(join(sweepDir, 'sweep.json'), JSON.stringify({ format: 1 }));
    const result = await runFleet(['report', sweepDir]);
    expect(result.code).toBe(1);
    const last = result.stderr.trim().split('\n').at(-1);
    expect(last).toBe(`fleet: ${join(sweepDir, 'sweep.json')}: sweepId: Invalid input: expected string, received undefined`);
  });
});
