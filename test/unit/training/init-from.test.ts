import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTraining } from '../../../services/trainer/train-run.js';
import { selectBackend } from '../../../src/compute/index.js';
import { buildModel } from '../../../src/model/index.js';
import type { TrainConfig } from '../../../src/runtime/config/train-config.js';
import { readCheckpoint } from '../../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../../src/training/checkpoint/run-checkpoint.js';
import { layoutLength, readWeights, weightLayout } from '../../../src/training/flat-weights.js';
import { InitFromMismatchError, initFromModel } from '../../../src/training/init-from.js';
import { writeCifar10Files } from '../../fixtures/cifar10-files.js';
import { testConfig } from '../../helpers/test-config.js';

/**
 * --init-from RUN_DIR/best: a run starts from an earlier fleet model (here
 * with its conv and BatchNorm layers frozen, so they must still be that
 * model's after an epoch), and a model of another architecture is refused
 * naming every weight that does not match.
 */

const quiet = pino({ level: 'silent' });
let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-init-from-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 128, testCount: 40, pattern: 'learnable', seed: 3 });
  await selectBackend('wasm', quiet, { threads: null });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function config(out: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return testConfig({
    model: 'tiny-bn',
    epochs: 1,
    batchSize: 32,
    lr: 0.05,
    seed: 5,
    backend: 'wasm',
    dataDir,
    outDir: join(root, out),
    ...overrides,
  });
}

async function finalParams(out: string): Promise<Float32Array> {
  return (await readCheckpoint(join(root, out, CHECKPOINT_FILE))).arrays.params!;
}

describe('--init-from', () => {
  it('starts from the earlier run best model, BatchNorm statistics included', async () => {
    await runTraining(config('first'), quiet);
    const first = await finalParams('first'); // one epoch: best/ holds these weights
    // Another seed: without --init-from the frozen layers would be that seed's.
    await runTraining(config('second', { seed: 9, freezeEpochs: 1, initFrom: join(root, 'first', 'best') }), quiet);
    const second = await finalParams('second');
    const layout = weightLayout(buildModel({ name: 'tiny-bn', seed: 1 }));
    for (const slice of layout) {
      const a = first.slice(slice.offset, slice.offset + slice.length);
      const b = second.slice(slice.offset, slice.offset + slice.length);
      if (slice.name.startsWith('fc/')) expect(b, slice.name).not.toEqual(a);
      else expect(b, slice.name).toEqual(a);
    }
  }, 60_000);

  it('takes RUN_DIR as RUN_DIR/best', async () => {
    const model = buildModel({ name: 'tiny-bn', seed: 9 });
    await initFromModel(model, join(root, 'first'));
    const layout = weightLayout(model);
    expect(readWeights(model, layout, new Float32Array(layoutLength(layout)))).toEqual(await finalParams('first'));
    model.dispose();
  });

  it('refuses another architecture, listing every mismatched weight', async () => {
    const model = buildModel({ name: 'tiny', seed: 1 });
    const error = await initFromModel(model, join(root, 'first', 'best')).catch((e: unknown) => e);
    model.dispose();
    expect(error).toBeInstanceOf(InitFromMismatchError);
    const message = (error as Error).message;
    expect(message).toMatch(/^invalid configuration: --init-from ".*first\/best": not the same architecture/);
    expect(message).toContain('conv1/bias [8] is missing');
    for (const name of ['bn1/gamma', 'bn1/beta', 'bn1/moving_mean', 'bn1/moving_variance'])
      expect(message).toContain(`${name} [8] is not in the model`);
  });
});
