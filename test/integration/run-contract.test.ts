import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNatsServer } from '../../services/launcher/nats-server-process.js';
import { bestModelMetaSchema, readMetricsLines, runConfigRecordSchema, type MetricsLine } from '../../src/training/run-record/index.js';
import { writeCifar10Files, type Cifar10Fixture } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { runFleet } from '../helpers/run-fleet.js';

/**
 * The run contract (docs/run-directory.md): a one-process run and a
 * distributed one leave the same run directory. The distributed line has two
 * writers: the evaluator service (`fleet train --workers 2` with NATS, which
 * the launcher starts when nats-server is installed) and the coordinator
 * (no evaluator); both are run here.
 */
let root: string;
let data: Cifar10Fixture;
const started: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-run-contract-'));
  data = await writeCifar10Files(join(root, 'data'), { trainBatches: 1, perBatch: 320, testCount: 100, pattern: 'learnable', seed: 5 });
  await tf.setBackend('cpu');
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

const training = (out: string) => [
  '--model',
  'tiny',
  '--epochs',
  '2',
  '--batch-size',
  '32',
  '--lr',
  '0.02',
  '--warmup-epochs',
  '0',
  '--data-dir',
  join(root, 'data'),
  '--allow-partial',
  '--backend',
  'wasm',
  '--out',
  out,
];

async function coordinatorScoredRun(out: string): Promise<void> {
  const coordinator = await startCoordinator([...training(out), '--workers', '2']);
  started.push(coordinator);
  const workers = [0, 1].map((i) => startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `contract-${i}`]));
  started.push(...workers);
  const exits = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
  expect(
    exits.map((e) => e.code),
    coordinator.lines.slice(-5).join('\n'),
  ).toEqual([0, 0, 0]);
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

/** Scores best/ as a plain tfjs program would: tf.loadLayersModel on its files, inputs normalised as meta.json says. */
async function scoreBestAsMetaSays(dir: string): Promise<{ accuracy: number; metaAccuracy: number }> {
  const meta = bestModelMetaSchema.parse(await readJson(join(dir, 'meta.json')));
  const json = (await readJson(join(dir, 'model.json'))) as unknown as tf.io.ModelJSON;
  const weights = await readFile(join(dir, 'weights.bin'));
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
  const { shape, pixelScale, mean, std } = meta.input;
  const n = data.test.labels.length;
  const x = Float32Array.from(data.test.images, (v, i) => (v * pixelScale - mean[i % shape[2]]!) / std[i % shape[2]]!);
  const predicted = tf.tidy(() => tf.argMax(model.predict(tf.tensor4d(x, [n, ...shape])) as tf.Tensor, -1).dataSync());
  model.dispose();
  let correct = 0;
  for (let i = 0; i < n; i++) if (predicted[i] === data.test.labels[i]) correct++;
  return { accuracy: correct / n, metaAccuracy: meta.accuracy };
}

describe('the run contract', () => {
  it('a one-process run and two-worker runs (evaluator-scored and coordinator-scored) leave run directories of one schema', async () => {
    const runs = { one: join(root, 'one'), evaluated: join(root, 'two-evaluated'), coordinated: join(root, 'two-coordinated') };
    const [one, evaluated] = await Promise.all([
      runFleet(['train', '--workers', '1', '--progress', 'log', ...training(runs.one)]),
      runFleet(['train', '--workers', '2', ...training(runs.evaluated)], { timeoutMs: 180_000 }),
      coordinatorScoredRun(runs.coordinated),
    ]);
    expect(one.code, one.stderr).toBe(0);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    // With a nats-server on the machine the launcher's evaluator scored that run (else its coordinator did).
    expect(existsSync(join(runs.evaluated, 'evaluator-state.json'))).toBe(findNatsServer() !== null);

    // metrics.jsonl: every line parses with the one schema; the distributed lines add workers and version.
    const names = Object.keys(runs) as (keyof typeof runs)[];
    const lines = {} as Record<keyof typeof runs, MetricsLine[]>;
    for (const name of names) {
      lines[name] = await readMetricsLines(runs[name]);
      expect(
        lines[name].map((l) => l.epoch),
        name,
      ).toEqual([1, 2]);
      for (const l of lines[name]) {
        expect(l.trainSamples, name).toBe(320);
        expect(l.imagesPerSecond, name).toBeGreaterThan(0);
        expect(l.epochSeconds, name).toBeGreaterThan(0);
        expect(l.lr, name).toBeGreaterThan(0);
        expect(
          l.confusion.flat().reduce((a, b) => a + b, 0),
          name,
        ).toBe(100);
      }
    }
    expect(lines.one.every((l) => l.workers === undefined && l.version === undefined)).toBe(true);
    for (const name of ['evaluated', 'coordinated'] as const) {
      expect(
        lines[name].every((l) => l.workers === 2 && typeof l.version === 'number'),
        name,
      ).toBe(true);
    }

    // config.json: the same keys for every kind of run, with the backend that ran.
    const [first, ...others] = await Promise.all(
      names.map(async (name) => runConfigRecordSchema.parse(await readJson(join(runs[name], 'config.json')))),
    );
    for (const c of [first, ...others]) {
      expect(Object.keys(c ?? {}).sort()).toEqual(['backend', 'config', 'data', 'plan']);
      expect(Object.keys(c?.config ?? {}).sort()).toEqual(Object.keys(first?.config ?? {}).sort());
      expect(c?.backend).toBe('wasm');
    }

    // best/: meta.json says what inference needs, and following it reproduces the recorded accuracy.
    for (const name of names) {
      const dir = runs[name];
      const meta = bestModelMetaSchema.parse(await readJson(join(dir, 'best', 'meta.json')));
      expect(meta.classNames, name).toEqual(data.classNames);
      expect(meta.input, name).toMatchObject({
        shape: [32, 32, 3],
        layout: 'NHWC',
        mean: [0.4914, 0.4822, 0.4465],
        std: [0.247, 0.2435, 0.2616],
      });
      // The evaluator also scores the checkpoints between epoch ends: its best may be one of those.
      expect(meta.accuracy, name).toBeGreaterThanOrEqual(Math.max(...lines[name].map((l) => l.testAccuracy)));
      const scored = await scoreBestAsMetaSays(join(dir, 'best'));
      expect(scored.accuracy, name).toBeCloseTo(scored.metaAccuracy, 6);
    }
  }, 300_000);
});
