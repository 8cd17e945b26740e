import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_GPUS_VARIABLE } from '../../services/launcher/gpu-probe.js';
import { cpuCount } from '../../services/launcher/gc-threads.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { logLines, runFleet } from '../helpers/run-fleet.js';

/**
 * `fleet train --gpus` and `--workers auto` on one machine. This machine has
 * no GPU and no @tensorflow/tfjs-node-gpu: the launcher's test-only
 * FLEET_TEST_FAKE_GPUS takes the package as installed and N GPUs as listed,
 * and the real processes show, each in its own log, the CUDA_VISIBLE_DEVICES
 * it was started with (its backend is the usual CPU one: nothing tries a GPU).
 */

let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-train-gpus-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 100, pattern: 'learnable', seed: 5 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const tiny = (out: string) => [
  'train',
  '--model',
  'tiny',
  '--epochs',
  '1',
  '--batch-size',
  '32',
  '--lr',
  '0.02',
  '--data-dir',
  dataDir,
  '--allow-partial',
  '--progress',
  'log',
  '--out',
  out,
];

/** The CUDA_VISIBLE_DEVICES a process logged when it chose its backend (undefined: the variable was not set). */
async function devicesLogged(out: string, process: string): Promise<unknown> {
  const lines = logLines(await readFile(join(out, 'logs', `${process}.log`), 'utf8'));
  const selected = lines.find((l) => l.msg === 'compute backend selected');
  expect(selected, `${process} logged its backend`).toBeDefined();
  return selected!.cudaVisibleDevices;
}

async function configOf(out: string): Promise<{ workers: number }> {
  return JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).config;
}

describe('fleet train --gpus (one multi-GPU machine)', () => {
  it('starts one worker per listed GPU, each seeing only its own; the coordinator and evaluator see none', async () => {
    const out = join(root, 'gpus');
    const result = await runFleet([...tiny(out), '--gpus', '3,1'], { env: { [FAKE_GPUS_VARIABLE]: '4' } });
    expect(result.code, result.stderr).toBe(0);
    expect((await configOf(out)).workers).toBe(2);
    expect((await readdir(join(out, 'logs'))).sort()).toEqual(['coordinator.log', 'evaluator.log', 'worker-0.log', 'worker-1.log']);
    expect(await devicesLogged(out, 'worker-0')).toBe('3');
    expect(await devicesLogged(out, 'worker-1')).toBe('1');
    expect(await devicesLogged(out, 'coordinator')).toBe('');
    expect(await devicesLogged(out, 'evaluator')).toBe('');
    const planned = logLines(result.stdout).find((l) => l.msg === 'workers planned');
    expect(planned).toMatchObject({ workers: 2, gpus: [3, 1], basis: 'gpus' });
  });

  it('--workers auto with the GPU package and one GPU listed: one worker, in this process, on GPU 0', async () => {
    const out = join(root, 'auto-one-gpu');
    const result = await runFleet([...tiny(out), '--workers', 'auto'], { env: { [FAKE_GPUS_VARIABLE]: '1' } });
    expect(result.code, result.stderr).toBe(0);
    expect((await configOf(out)).workers).toBe(1);
    const lines = logLines(result.stdout);
    expect(lines.find((l) => l.msg === 'workers planned')).toMatchObject({ workers: 1, gpus: [0], basis: 'auto-gpus' });
    expect(lines.find((l) => l.msg === 'compute backend selected')?.cudaVisibleDevices).toBe('0');
    expect(existsSync(join(out, 'logs'))).toBe(false);
  });

  it('--workers auto without the GPU package: one worker per CPU this process may use', async () => {
    const out = join(root, 'auto-cpus');
    const cpus = cpuCount();
    const result = await runFleet([...tiny(out), '--workers', 'auto']);
    expect(result.code, result.stderr).toBe(0);
    expect((await configOf(out)).workers).toBe(cpus);
    expect(logLines(result.stdout).find((l) => l.msg === 'workers planned')).toMatchObject({
      workers: cpus,
      gpus: null,
      basis: 'auto-cpus',
    });
    if (cpus > 1) {
      const logs = (await readdir(join(out, 'logs'))).filter((f) => f.startsWith('worker-'));
      expect(logs.length).toBe(cpus);
      // CPU workers keep the launcher's environment: no CUDA_VISIBLE_DEVICES of fleet's making.
      if (process.env.CUDA_VISIBLE_DEVICES === undefined) expect(await devicesLogged(out, 'worker-0')).toBeUndefined();
    }
  });

  it('refuses, naming the flag and the value, and writes nothing', async () => {
    const cases: { args: string[]; env?: Record<string, string>; says: string[] }[] = [
      { args: ['--gpus', '0,x'], says: ["'--gpus <list>'", "'x' is not a GPU index"] },
      { args: ['--gpus', '1,0,1'], says: ["'--gpus <list>'", 'GPU 1 is listed twice'] },
      { args: ['--gpus', '0,1'], says: ['--gpus "0,1"', '@tensorflow/tfjs-node-gpu', 'not installed'] },
      { args: ['--gpus', '0,2'], env: { [FAKE_GPUS_VARIABLE]: '2' }, says: ['--gpus "0,2"', 'GPU 2 does not exist'] },
      { args: ['--gpus', '0,1', '--workers', '3'], env: { [FAKE_GPUS_VARIABLE]: '2' }, says: ['--workers 3', 'conflicts with --gpus 0,1'] },
      { args: ['--gpus', '0', '--backend', 'wasm'], env: { [FAKE_GPUS_VARIABLE]: '2' }, says: ['--gpus "0"', '--backend wasm'] },
      { args: ['--workers', 'many'], says: ["'--workers <n>'", "'many' is not a number"] },
    ];
    const outs = cases.map((_, i) => join(root, `refused-${i}`));
    const results = await Promise.all(cases.map((c, i) => runFleet([...tiny(outs[i]!), ...c.args], { env: c.env ?? {} })));
    for (const [i, c] of cases.entries()) {
      const result = results[i]!;
      expect(result.code, result.stderr).toBe(2);
      for (const text of c.says) expect(result.stderr).toContain(text);
      expect(existsSync(outs[i]!)).toBe(false);
    }
  });
});
