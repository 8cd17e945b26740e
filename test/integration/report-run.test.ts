import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { runFleet } from '../helpers/run-fleet.js';
import { pngFacts } from '../unit/report/png-check.js';

let root: string;
let dataDir: string;
let runDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-report-run-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 320, testCount: 200, pattern: 'learnable', seed: 5 });
  runDir = join(root, 'run');
  const trained = await runFleet([
    'train',
    '--model',
    'tiny',
    '--epochs',
    '2',
    '--batch-size',
    '32',
    '--lr',
    '0.05',
    '--augment',
    'full',
    '--mixup',
    '0.2',
    '--data-dir',
    dataDir,
    '--allow-partial',
    '--out',
    runDir,
    '--progress',
    'log',
  ]);
  expect(trained.code, trained.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Each PNG the report is expected to hold, with the smallest size it can have and what must be in README.md next to it. */
const EXPECTED = [
  'loss.png',
  'accuracy.png',
  'lr.png',
  'confusion.png',
  'class-accuracy.png',
  'mistakes.png',
  'augmentation.png',
  'mix.png',
];

describe('fleet report RUN_DIR', () => {
  it('writes README.md with real PNG charts and pictures, and report.html embedding every one', async () => {
    const result = await runFleet(['report', runDir, '--data-dir', dataDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('run report:');
    const reportDir = join(runDir, 'report');
    const files = (await readdir(reportDir)).sort();
    expect(files).toEqual([...EXPECTED, 'README.md', 'report.html'].sort());

    const readme = await readFile(join(reportDir, 'README.md'), 'utf8');
    const html = await readFile(join(reportDir, 'report.html'), 'utf8');
    for (const file of EXPECTED) {
      const bytes = await readFile(join(reportDir, file));
      const facts = pngFacts(bytes);
      // Charts are drawn at twice their CSS size; image grids enlarge 32x32 images 3-4 times.
      expect(facts.width, file).toBeGreaterThanOrEqual(400);
      expect(facts.height, file).toBeGreaterThanOrEqual(150);
      expect(facts.colours, `${file}: distinct colours`).toBeGreaterThan(20);
      expect(facts.nonBackground, `${file}: share of non-background pixels`).toBeGreaterThan(0.03);
      expect(facts.darkPixels, `${file}: text and lines`).toBeGreaterThan(500);
      expect(readme).toContain(`](${file})`);
      expect(html).toContain(`src="data:image/png;base64,${bytes.toString('base64')}"`);
    }
    // Self-contained: no file the HTML would have to fetch.
    expect(html).not.toMatch(/src="(?!data:)/);

    expect(readme).toMatch(/^# Run report: /);
    expect(readme).toContain('Most confused pairs');
    expect(readme).toMatch(/- \w+ taken for \w+: \d+ of \d+ \w+ images/);
    expect(readme).toMatch(/test image \d+ taken for \w+ \(\d+\.\d%\)/);
    expect(readme).toMatch(/mixup, lambda 0\.\d{3}: \w+ with \w+/);
  });

  it('without the data set, the charts are still written and the pictures of images say why they are missing', async () => {
    const out = join(root, 'report-no-data');
    const result = await runFleet(['report', runDir, '--out', out, '--data-dir', join(root, 'nowhere')]);
    expect(result.code, result.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual([
      'README.md',
      'accuracy.png',
      'class-accuracy.png',
      'confusion.png',
      'loss.png',
      'lr.png',
      'report.html',
    ]);
    const readme = await readFile(join(out, 'README.md'), 'utf8');
    expect(readme).toContain('Left out: the test images could not be read');
    expect(readme).toContain('pass --data-dir');
  });

  it('a folder that is neither a run nor a sweep is one fleet: line', async () => {
    const result = await runFleet(['report', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `fleet: ${dataDir} is neither a run directory (holding metrics.jsonl) nor a sweep directory (holding sweep.json)`,
    );
  });
});
