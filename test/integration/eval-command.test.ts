import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { runFleet } from '../helpers/run-fleet.js';

let root: string;
let dataDir: string;
let bestDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-eval-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 150, pattern: 'learnable', seed: 11 });
  const out = join(root, 'run');
  const trained = await runFleet([
    'train',
    '--model',
    'tiny',
    '--epochs',
    '1',
    '--batch-size',
    '32',
    '--lr',
    '0.05',
    '--warmup-epochs',
    '0',
    '--data-dir',
    dataDir,
    '--allow-partial',
    '--out',
    out,
    '--progress',
    'log',
  ]);
  expect(trained.code, trained.stderr).toBe(0);
  bestDir = join(out, 'best');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('fleet eval (a saved model scored on the test set)', () => {
  it('scores best/ as the run did: the accuracy in its meta.json, per-class accuracy and a confusion matrix over every test image', async () => {
    const meta = JSON.parse(await readFile(join(bestDir, 'meta.json'), 'utf8')) as { accuracy: number; classNames: string[] };
    const result = await runFleet(['eval', bestDir, '--data-dir', dataDir, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const score = JSON.parse(result.stdout) as { count: number; accuracy: number; perClassAccuracy: number[]; confusion: number[][] };
    expect(score.count).toBe(150);
    // Exactly: the same weights, the same images, the same count of correct answers.
    expect(score.accuracy).toBe(meta.accuracy);
    expect(score.confusion.flat().reduce((a, b) => a + b, 0)).toBe(150);
    const correct = score.confusion.reduce((n, row, c) => n + row[c]!, 0);
    expect(correct / 150).toBeCloseTo(score.accuracy, 12);

    const text = await runFleet(['eval', bestDir, '--data-dir', dataDir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`accuracy ${(meta.accuracy * 100).toFixed(2)}%`);
    for (const name of meta.classNames) expect(text.stdout).toContain(name);
  });

  it('refuses a folder that is not a saved fleet model, naming it (exit 1)', async () => {
    const notAModel = join(root, 'not-a-model');
    await mkdir(notAModel);
    await writeFile(join(notAModel, 'meta.json'), '{"model": "cnn"}');
    const result = await runFleet(['eval', notAModel, '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${notAModel}/meta.json is not a fleet model's`);
  });
});
