import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeBatch } from '../../src/augment/index.js';
import { loadModelFiles } from '../../src/model/index.js';
import { setLabelByte, writeCifar10Files, type Cifar10Fixture } from '../fixtures/cifar10-files.js';
import { spawn } from 'node:child_process';
import { FLEET_BIN, logLines, runFleet } from '../helpers/run-fleet.js';

let root: string;
let data: Cifar10Fixture;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-train-cli-'));
  data = await writeCifar10Files(join(root, 'data'), { trainBatches: 1, perBatch: 320, testCount: 200, pattern: 'learnable', seed: 3 });
  await tf.setBackend('cpu');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = (out: string) => [
  'train',
  '--workers',
  '1',
  '--model',
  'tiny',
  '--epochs',
  '2',
  '--batch-size',
  '32',
  '--lr',
  '0.02',
  '--data-dir',
  join(root, 'data'),
  '--allow-partial',
  '--backend',
  'wasm',
  '--progress',
  'log',
  '--out',
  out,
];

async function readMetrics(dir: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(dir, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('fleet train (one process)', () => {
  it('trains, writes the run directory, and keeps a best model that scores what its meta.json says', async () => {
    const out = join(root, 'run-a');
    const result = await runFleet(base(out));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.config.model).toBe('tiny');
    expect(config.plan.stepsPerEpoch).toBe(10);

    const metrics = await readMetrics(out);
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    for (const m of metrics) {
      for (const key of ['trainLoss', 'trainAccuracy', 'testAccuracy']) expect(Number.isFinite(m[key])).toBe(true);
    }
    // The learnable fixture is separable by colour: a model that trains learns it.
    const bestAccuracy = Math.max(...metrics.map((m) => m.testAccuracy as number));
    expect(bestAccuracy).toBeGreaterThan(0.5);

    // Each epoch's log line reads as a person expects: accuracy in percent, weakest classes, most confused pair.
    const epochLines = logLines(result.stdout).filter((l) => l.msg === 'epoch done');
    expect(epochLines.map((l) => l.accuracyPercent)).toEqual(metrics.map((m) => `${((m.testAccuracy as number) * 100).toFixed(2)}%`));
    for (const l of epochLines) expect(String(l.weakest)).toMatch(/^[a-z]+ \d+\.\d\d%/);

    const meta = JSON.parse(await readFile(join(out, 'best', 'meta.json'), 'utf8'));
    expect(meta.accuracy).toBe(bestAccuracy);
    const model = await loadModelFiles(join(out, 'best'));
    const x = normalizeBatch({ images: data.test.images, labels: data.test.labels, indices: Array.from({ length: 200 }, (_, i) => i) }).x;
    const predicted = tf.tidy(() => tf.argMax(model.predict(tf.tensor4d(x, [200, 32, 32, 3])) as tf.Tensor, -1).dataSync());
    let correct = 0;
    for (let i = 0; i < 200; i++) if (predicted[i] === data.test.labels[i]) correct++;
    expect(correct / 200).toBeCloseTo(meta.accuracy, 6);

    // Structured progress: lines carry run, worker and epoch.
    const progress = logLines(result.stdout).filter((l) => typeof l.done === 'number' && l.phase === undefined);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toMatchObject({ service: 'train', worker: 0, epoch: 1 });
  });

  it('gives the same run for the same seed, and another for another seed', async () => {
    const flags = ['--model', 'tiny-bn', '--augment', 'full', '--mixup', '0.4', '--cutmix', '1', '--label-smoothing', '0.1', '--seed', '7'];
    const [a, b, c] = await Promise.all([
      runFleet([...base(join(root, 'seed-a')), ...flags]),
      runFleet([...base(join(root, 'seed-b')), ...flags]),
      runFleet([...base(join(root, 'seed-c')), ...flags.slice(0, -1), '8']),
    ]);
    expect([a.code, b.code, c.code]).toEqual([0, 0, 0]);
    const strip = (ms: Record<string, unknown>[]) =>
      ms.map(({ trainLoss, trainAccuracy, testAccuracy, testLoss }) => ({ trainLoss, trainAccuracy, testAccuracy, testLoss }));
    expect(strip(await readMetrics(join(root, 'seed-a')))).toEqual(strip(await readMetrics(join(root, 'seed-b'))));
    expect(strip(await readMetrics(join(root, 'seed-a')))).not.toEqual(strip(await readMetrics(join(root, 'seed-c'))));
    const weights = (d: string) => readFile(join(root, d, 'best', 'weights.bin'));
    expect((await weights('seed-a')).equals(await weights('seed-b'))).toBe(true);
  });

  it('refuses out-of-range flags with exit code 2, naming each flag, and writes nothing', async () => {
    const out = join(root, 'bad-flags');
    const result = await runFleet([...base(out), '--lr', '-1', '--label-smoothing', '1.5']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--lr -1');
    expect(result.stderr).toContain('--label-smoothing 1.5');
    await expect(readFile(join(out, 'config.json'))).rejects.toThrow();
  });

  it('refuses a flag that is not a number', async () => {
    const result = await runFleet([...base(join(root, 'nan')), '--epochs', 'two']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("'two' is not a number");
  });

  it('fails with a clear message when the data is missing or corrupt', async () => {
    const missing = await runFleet([...base(join(root, 'missing')), '--data-dir', join(root, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('fleet data download');

    const corrupt = join(root, 'corrupt');
    const files = await writeCifar10Files(corrupt, { trainBatches: 1, perBatch: 40, testCount: 20 });
    const trainFile = files.files.find((f) => f.endsWith('data_batch_1.bin'))!;
    await setLabelByte(trainFile, 17, 12);
    const bad = await runFleet([...base(join(root, 'corrupt-run')), '--data-dir', corrupt]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('data_batch_1.bin');
    expect(bad.stderr).toMatch(/record 17/);
  });

  it('stops on SIGTERM between steps with exit code 143', async () => {
    const child = spawn(process.execPath, [FLEET_BIN, ...base(join(root, 'sigterm')), '--epochs', '1000', '--model', 'tiny-bn'], {
      env: { ...process.env, FLEET_LOG_PRETTY: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // Wait until it is training (an epoch finished), then ask it to stop.
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('"epoch done"')) resolve();
      });
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(143);
    expect(stderr).toContain('interrupted by SIGTERM');
  });
});
