import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCheckpoint } from '../../../services/coordinator/checkpoint/checkpoint-file.js';
import { configForResume } from '../../../services/coordinator/checkpoint/resume-config.js';
import { ConfigError, MACHINE_KEYS, parseTrainConfig, runConfigOf, type MachineConfig } from '../../../src/runtime/config/train-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-resume-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const saved = parseTrainConfig({
  runId: 'r1',
  workers: 2,
  model: 'tiny',
  epochs: 3,
  batchSize: 32,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 0,
  warmupEpochs: 0,
  minLr: 0,
  augment: 'none',
  mixupAlpha: 0,
  cutmixAlpha: 0,
  labelSmoothing: 0,
  dataDir: '/old/data',
  download: false,
  allowPartial: true,
  limitTrain: null,
  limitTest: null,
  seed: 9,
  backend: 'cpu',
  outDir: '/old/out',
  evalBatchSize: 100,
  progress: 'log',
  syncEvery: 1,
  lrScaling: 'none',
  balance: 'speed',
});
const machine: MachineConfig = {
  dataDir: '/new/data',
  download: true,
  backend: 'wasm',
  threads: null,
  outDir: '/new/out',
  evalBatchSize: 250,
  progress: 'bar',
};

async function checkpointWith(name: string, config: unknown): Promise<string> {
  const file = join(dir, name);
  await writeCheckpoint(file, { config, version: 1 }, { master: new Float32Array(4) });
  return file;
}

describe('configForResume', () => {
  it('takes the run keys from the checkpoint and every machine key from this command line', async () => {
    const config = await configForResume(await checkpointWith('ok.fleet', saved), machine);
    expect(runConfigOf(config)).toEqual(runConfigOf(saved));
    for (const key of MACHINE_KEYS) expect(config[key], key).toEqual(machine[key]);
  });

  it('defaults keys added since the checkpoint was written (balance)', async () => {
    const { balance: _, ...older } = saved;
    expect((await configForResume(await checkpointWith('older.fleet', older), machine)).balance).toBe('equal');
  });

  it('refuses a foreign or damaged run config naming the file and the key', async () => {
    const bad = await checkpointWith('bad.fleet', { ...saved, epochs: 'three', lr: -1 });
    const result = configForResume(bad, machine);
    await expect(result).rejects.toThrow(ConfigError);
    await expect(result).rejects.toThrow(`${bad}: config.epochs`);
    await expect(result).rejects.toThrow(`${bad}: config.lr`);
    const none = await checkpointWith('none.fleet', 'not a config');
    await expect(configForResume(none, machine)).rejects.toThrow(`${none}: config`);
  });
});
