import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFiles } from '../../src/model/index.js';
import { writeCifar10Files, type Cifar10Fixture } from '../fixtures/cifar10-files.js';
import { runFleet } from '../helpers/run-fleet.js';

const SIDE = 32;
const PIXELS = SIDE * SIDE;

let root: string;
let runsDir: string;
let runDir: string;
let fixture: Cifar10Fixture;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fleet-results-'));
  const dataDir = join(root, 'data');
  fixture = await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 100, pattern: 'learnable', seed: 5 });
  runsDir = join(root, 'runs');
  runDir = join(runsDir, 'first');
  // Two epochs, so `--epoch 1` and the last differ.
  const train = 'train --model tiny --epochs 2 --batch-size 32 --lr 0.05 --warmup-epochs 0 --allow-partial --progress log';
  const trained = await runFleet([...train.split(' '), '--data-dir', dataDir, '--out', runDir]);
  expect(trained.code, trained.stderr).toBe(0);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Line {
  epoch: number;
  testAccuracy: number;
  testLoss: number;
  confusion: number[][];
}

async function metricsLines(): Promise<Line[]> {
  const text = await readFile(join(runDir, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

/** Test image n as 32x32 RGBA bytes (alpha as given), for the encoders. */
function rgbaOf(n: number, alpha: (p: number) => number): Buffer {
  const rgba = Buffer.alloc(PIXELS * 4);
  for (let p = 0; p < PIXELS; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = fixture.test.images[n * PIXELS * 3 + p * 3 + c]!;
    rgba[p * 4 + 3] = alpha(p);
  }
  return rgba;
}

function writePng(file: string, width: number, height: number, data: Buffer): Promise<void> {
  const png = new PNG({ width, height });
  png.data = data;
  return writeFile(file, PNG.sync.write(png));
}

/** The model's class probabilities for RGBA images, normalised here from meta.json's input (alpha ignored). */
async function modelProbabilities(rgbaImages: Uint8Array[]): Promise<number[][]> {
  const meta = JSON.parse(await readFile(join(runDir, 'best', 'meta.json'), 'utf8')) as {
    input: { pixelScale: number; mean: number[]; std: number[] };
  };
  const { pixelScale, mean, std } = meta.input;
  const x = new Float32Array(rgbaImages.length * PIXELS * 3);
  rgbaImages.forEach((rgba, n) => {
    for (let p = 0; p < PIXELS; p++) {
      for (let c = 0; c < 3; c++) x[(n * PIXELS + p) * 3 + c] = (rgba[p * 4 + c]! * pixelScale - mean[c]!) / std[c]!;
    }
  });
  const model = await loadModelFiles(join(runDir, 'best'));
  const probabilities = tf.tidy(() =>
    (tf.softmax(model.predict(tf.tensor4d(x, [rgbaImages.length, SIDE, SIDE, 3])) as tf.Tensor2D) as tf.Tensor2D).arraySync(),
  );
  model.dispose();
  return probabilities;
}

const argmax = (v: number[]) => v.indexOf(Math.max(...v));

describe('fleet show (an epoch of a run, with class names)', () => {
  it("prints the last epoch's test accuracy from metrics.jsonl as a percentage, every class name, and the summary", async () => {
    const lines = await metricsLines();
    const last = lines.at(-1)!;
    const shown = await runFleet(['show', runDir]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`epoch 2 of 2`);
    expect(shown.stdout).toContain(`test accuracy ${(last.testAccuracy * 100).toFixed(2)}%  loss ${last.testLoss.toFixed(4)}`);
    for (const name of fixture.classNames) expect(shown.stdout).toContain(name);
    expect(shown.stdout).toMatch(/^weakest: /m);
    expect(shown.stdout).toMatch(/^most confused: /m);

    const first = await runFleet(['show', runDir, '--epoch', '1', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const json = JSON.parse(first.stdout) as Line & { classNames: string[]; weakest: unknown[] };
    expect(json.epoch).toBe(1);
    expect(json.testAccuracy).toBe(lines[0]!.testAccuracy);
    expect(json.confusion).toEqual(lines[0]!.confusion);
    expect(json.classNames).toEqual(fixture.classNames);
    expect(json.weakest).toHaveLength(3);
  });

  it('refuses a folder that is not a run, an epoch not recorded and a malformed metrics.jsonl, naming them (exit 1)', async () => {
    const notARun = join(root, 'empty');
    await mkdir(notARun);
    const refused = await runFleet(['show', notARun]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`fleet: ${notARun} is not a run directory (no metrics.jsonl)`);

    const noEpoch = await runFleet(['show', runDir, '--epoch', '7']);
    expect(noEpoch.code).toBe(1);
    expect(noEpoch.stderr).toContain('has no line for epoch 7 (epochs recorded: 1, 2)');

    const broken = join(root, 'broken');
    await mkdir(broken);
    await writeFile(join(broken, 'metrics.jsonl'), '{"epoch": 1}\n');
    const malformed = await runFleet(['show', broken]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain(`${join(broken, 'metrics.jsonl')}:1`);
  });
});

describe('fleet runs (the runs below a folder)', () => {
  it('lists a finished run with its best accuracy and a run without epochs as incomplete, oldest first', async () => {
    const started = join(runsDir, 'second');
    await mkdir(started);
    await copyFile(join(runDir, 'config.json'), join(started, 'config.json'));
    const listed = await runFleet(['runs', runsDir]);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = listed.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^id\s+model\s+workers\s+epochs\s+best %\s+status\s+started/);
    const best = Math.max(...(await metricsLines()).map((l) => l.testAccuracy));
    const config = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')) as { config: { runId: string } };
    expect(rows[1]).toMatch(new RegExp(`^${config.config.runId}\\s+tiny\\s+1\\s+2/2\\s+${(best * 100).toFixed(2)}\\s+finished\\s`));
    expect(rows[1]).toContain(runDir);
    expect(rows[2]).toMatch(/\s0\/2\s+-\s+incomplete\s/);
    expect(rows[2]).toContain(started);
    expect(rows).toHaveLength(3);
  });
});

describe('fleet predict (a saved model on image files)', () => {
  it("gives each PNG and JPEG the model's own top classes, alpha ignored", async () => {
    const images = [0, 1, 2, 3, 4, 5];
    const rgba = images.map((n) => rgbaOf(n, (p) => (n === 1 ? p % 256 : 255)));
    const files = images.map((n) => join(root, `test-${n}.png`));
    await Promise.all(files.map((f, i) => writePng(f, SIDE, SIDE, rgba[i]!)));
    // JPEG is lossy: the expectation is computed from the pixels it decodes to.
    const jpegFile = join(root, 'test-6.jpg');
    await writeFile(jpegFile, jpeg.encode({ width: SIDE, height: SIDE, data: rgbaOf(6, () => 255) }, 95).data);
    const jpegRgba = jpeg.decode(await readFile(jpegFile), { useTArray: true, formatAsRGBA: true }).data;

    const expected = await modelProbabilities([...rgba, jpegRgba]);
    const result = await runFleet(['predict', join(runDir, 'best'), ...files, jpegFile, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const predictions = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { image: string; top: { className: string; probability: number }[] });
    expect(predictions.map((p) => p.image)).toEqual([...files, jpegFile]);
    predictions.forEach((p, i) => {
      expect(p.top).toHaveLength(3);
      expect(p.top[0]!.className).toBe(fixture.classNames[argmax(expected[i]!)]);
      expect(p.top[0]!.probability).toBeCloseTo(Math.max(...expected[i]!), 3);
    });

    const text = await runFleet(['predict', join(runDir, 'best'), files[0]!]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^${files[0]}: ${predictions[0]!.top[0]!.className} \\d+\\.\\d%, `));
  });

  it('refuses an image of another size than 32x32, naming the file and its size (exit 1)', async () => {
    const small = join(root, 'small.png');
    await writePng(small, 16, 16, Buffer.alloc(16 * 16 * 4, 200));
    const result = await runFleet(['predict', join(runDir, 'best'), small]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`fleet: ${small}: is 16x16; this model takes 32x32 images`);
    expect(result.stdout).toBe('');
  });
});
