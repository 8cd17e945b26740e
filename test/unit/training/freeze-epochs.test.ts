import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTraining } from '../../../services/trainer/train-run.js';
import { selectBackend } from '../../../src/compute/index.js';
import { buildModel } from '../../../src/model/index.js';
import type { TrainConfig } from '../../../src/runtime/config/train-config.js';
import { readCheckpoint } from '../../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../../src/training/checkpoint/run-checkpoint.js';
import { InterruptedError } from '../../../src/training/errors.js';
import { layoutLength, readWeights, weightLayout, type WeightSlice } from '../../../src/training/flat-weights.js';
import { phasedLearningRate } from '../../../src/training/trainable-set.js';
import { writeCifar10Files } from '../../fixtures/cifar10-files.js';
import { testConfig } from '../../helpers/test-config.js';

/**
 * --freeze-epochs in one process (tiny-bn: conv1 -> bn1 -> fc): during the
 * frozen epochs every tensor but the head's (fc) is bit-identical to the
 * initial model, BatchNorm moving statistics included; after them every layer
 * changes; a run stopped mid-freeze and resumed ends where an uninterrupted
 * run does.
 */

const quiet = pino({ level: 'silent' });

let root: string;
let dataDir: string;
let layout: WeightSlice[];
let initial: Float32Array;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-freeze-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 128, testCount: 40, pattern: 'learnable', seed: 3 });
  await selectBackend('wasm', quiet, { threads: null });
  const model = buildModel({ name: 'tiny-bn', seed: 5 });
  layout = weightLayout(model);
  initial = readWeights(model, layout, new Float32Array(layoutLength(layout)));
  model.dispose();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function config(out: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return testConfig({
    model: 'tiny-bn',
    epochs: 2,
    batchSize: 32,
    backend: 'wasm',
    lr: 0.05,
    seed: 5,
    freezeEpochs: 1,
    fineTuneLr: 0.02,
    dataDir,
    outDir: join(root, out),
    ...overrides,
  });
}

/** A logger that sends SIGTERM to this process (runTraining's stop handler) once global step `at` is done. */
function stoppingLogger(at: number) {
  let sent = false;
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (!sent && line.includes('"msg":"step done"') && JSON.parse(line).step === at) {
          sent = true;
          process.emit('SIGTERM', 'SIGTERM'); // as Node does: the handler gets the signal's name
        }
      }
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

async function finalParams(out: string): Promise<Float32Array> {
  return (await readCheckpoint(join(root, out, CHECKPOINT_FILE))).arrays.params!;
}

function tensor(params: Float32Array, name: string): Float32Array {
  const slice = layout.find((s) => s.name === name);
  if (!slice) throw new Error(`no ${name} in ${layout.map((s) => s.name).join(', ')}`);
  return params.slice(slice.offset, slice.offset + slice.length);
}

const FROZEN = ['conv1/kernel', 'bn1/gamma', 'bn1/beta', 'bn1/moving_mean', 'bn1/moving_variance'];
const HEAD = ['fc/kernel', 'fc/bias'];

describe('--freeze-epochs', () => {
  it('keeps every tensor but the head bit-identical through the frozen epochs', async () => {
    await runTraining(config('frozen-only', { epochs: 1 }), quiet);
    const after = await finalParams('frozen-only');
    for (const name of FROZEN) expect(tensor(after, name), name).toEqual(tensor(initial, name));
    for (const name of HEAD) expect(tensor(after, name), name).not.toEqual(tensor(initial, name));
  });

  it('trains every layer after the frozen epochs, and resumes mid-freeze to the same weights', async () => {
    await runTraining(config('straight'), quiet);
    const straight = await finalParams('straight');
    for (const name of [...FROZEN, ...HEAD]) expect(tensor(straight, name), name).not.toEqual(tensor(initial, name));

    // Stopped at global step 2 of the frozen epoch 1 (4 steps an epoch), then resumed.
    await expect(runTraining(config('resumed'), stoppingLogger(2), { resume: false, checkpointEverySteps: 0 })).rejects.toBeInstanceOf(
      InterruptedError,
    );
    const midFreeze = await finalParams('resumed');
    for (const name of FROZEN) expect(tensor(midFreeze, name), name).toEqual(tensor(initial, name));
    await runTraining(config('resumed'), quiet, { resume: true, checkpointEverySteps: 0 });
    expect(await finalParams('resumed')).toEqual(straight);
  }, 120_000);

  it('--train-bn trains BatchNorm gammas and betas with the head, nothing else', async () => {
    await runTraining(config('train-bn', { epochs: 1, trainBn: true }), quiet);
    const after = await finalParams('train-bn');
    expect(tensor(after, 'conv1/kernel')).toEqual(tensor(initial, 'conv1/kernel'));
    for (const name of ['bn1/gamma', 'bn1/beta', ...HEAD]) expect(tensor(after, name), name).not.toEqual(tensor(initial, name));
  });
});

describe('the phased learning-rate schedule', () => {
  const base = { peakLr: 0.1, minLr: 0, warmupSteps: 2, totalSteps: 40, stepsPerEpoch: 10, freezeEpochs: 1 };
  it('without --fine-tune-lr is one schedule across the phase change', () => {
    const rates = Array.from({ length: 40 }, (_, step) => phasedLearningRate(step, { ...base, fineTuneLr: null }));
    expect(rates[9]! - rates[10]!).toBeGreaterThan(0);
    expect(rates[10]! - rates[10 + 1]!).toBeCloseTo(rates[9]! - rates[10]!, 3);
  });
  it('with --fine-tune-lr warms up again to it at the first fine-tuning step and anneals to --min-lr', () => {
    const s = { ...base, fineTuneLr: 0.01 };
    expect(phasedLearningRate(0, s)).toBeCloseTo(0.05);
    expect(phasedLearningRate(9, s)).toBeLessThan(0.01);
    expect(phasedLearningRate(10, s)).toBeCloseTo(0.005);
    expect(phasedLearningRate(11, s)).toBeCloseTo(0.01);
    expect(phasedLearningRate(39, s)).toBeLessThan(1e-4);
  });
});

describe('--freeze-epochs configuration', () => {
  const base = { dataDir: '/d', outDir: '/o', epochs: 3 };
  it('is accepted with --workers > 1, refused with local SGD (--sync-every > 1), not supported yet', () => {
    expect(testConfig({ ...base, workers: 2, freezeEpochs: 1 }).freezeEpochs).toBe(1);
    expect(() => testConfig({ ...base, workers: 2, syncEvery: 2, freezeEpochs: 1 })).toThrow(
      /--freeze-epochs 1: is not supported with --sync-every > 1/,
    );
  });
  it('refuses more frozen epochs than epochs, and --train-bn or --fine-tune-lr without it', () => {
    expect(() => testConfig({ ...base, freezeEpochs: 4 })).toThrow(/--freeze-epochs 4: must not exceed --epochs \(3\)/);
    expect(() => testConfig({ ...base, trainBn: true })).toThrow(/--train-bn true: needs --freeze-epochs/);
    expect(() => testConfig({ ...base, fineTuneLr: 0.01 })).toThrow(/--fine-tune-lr 0.01: needs --freeze-epochs/);
  });
});
