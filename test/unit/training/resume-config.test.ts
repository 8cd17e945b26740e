import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCheckpoint } from '../../../src/training/checkpoint/checkpoint-file.js';
import { configForResume, resumePoint } from '../../../src/training/checkpoint/resume-config.js';
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
  dataUrl: null,
  backend: 'wasm',
  threads: null,
  outDir: '/new/out',
  evalBatchSize: 250,
  progress: 'bar',
};

async function checkpointWith(name: string, config: unknown, progress: { epoch?: number; epochDone?: boolean } = {}): Promise<string> {
  const file = join(dir, name);
  const epochTotals = { epoch: progress.epoch ?? 1, samples: 0, lossSum: 0, correct: 0 };
  await writeCheckpoint(
    file,
    { writer: 'trainer', config, epochTotals, epochDone: progress.epochDone ?? false },
    { master: new Float32Array(4) },
  );
  return file;
}

describe('configForResume', () => {
  it('takes the run keys from the checkpoint and every machine key from this command line', async () => {
    const config = await configForResume(await checkpointWith('ok.fleet', { ...saved, globalBatch: 96 }), machine);
    expect(runConfigOf(config)).toEqual(runConfigOf({ ...saved, globalBatch: 96 }));
    for (const key of MACHINE_KEYS) expect(config[key], key).toEqual(machine[key]);
  });

  it('gives a checkpoint saved before the global batch was recorded its batch x workers', async () => {
    const { globalBatch: _, ...older } = saved;
    const config = await configForResume(await checkpointWith('no-global.fleet', older), machine);
    expect(config.globalBatch).toBe(saved.batchSize * saved.workers);
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

  it("--epochs given on resume replaces the checkpoint's: a finished run is extended, never cut below the epoch it reached", async () => {
    const done = await checkpointWith('done.fleet', saved, { epoch: 3, epochDone: true });
    const asSaved = await resumePoint(done, machine);
    expect(asSaved).toMatchObject({ writer: 'trainer', epoch: 3, epochDone: true, savedEpochs: 3, finished: true });
    const extended = await resumePoint(done, machine, { epochs: { value: 5, flag: '--epochs' } });
    expect(extended).toMatchObject({ savedEpochs: 3, finished: false });
    expect(extended.config.epochs).toBe(5);

    const lower = resumePoint(done, machine, { epochs: { value: 2, flag: 'FLEET_EPOCHS (--epochs)' } });
    await expect(lower).rejects.toThrow(ConfigError);
    await expect(lower).rejects.toThrow(/FLEET_EPOCHS \(--epochs\) 2: .* has trained 3 epochs/);

    // Mid-epoch 3: ending with epoch 3 is allowed (shortened), below it is not.
    const mid = await checkpointWith('mid.fleet', { ...saved, epochs: 6 }, { epoch: 3 });
    expect((await resumePoint(mid, machine, { epochs: { value: 3, flag: '--epochs' } })).config.epochs).toBe(3);
    await expect(resumePoint(mid, machine, { epochs: { value: 2, flag: '--epochs' } })).rejects.toThrow(/is in epoch 3/);
  });

  it('reads the progress of a coordinator checkpoint of an earlier version from its sampler', async () => {
    const file = join(dir, 'old-coordinator.fleet');
    const sampler = { applied: 960, count: 960 };
    await writeCheckpoint(file, { config: saved, epochTotals: { epoch: 3, samples: 960, lossSum: 1, correct: 1 }, sampler }, {});
    expect(await resumePoint(file, machine)).toMatchObject({ writer: 'coordinator', epoch: 3, epochDone: true, finished: true });
  });
});
