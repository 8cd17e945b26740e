import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { runFleet } from '../helpers/run-fleet.js';

let root: string;
let dataDir: string;
const started: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-resume-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 960, testCount: 100, pattern: 'learnable', seed: 5 });
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

const out = () => join(root, 'run');
const args = () => [
  '--model',
  'tiny-bn',
  '--epochs',
  '2',
  '--workers',
  '2',
  '--batch-size',
  '16',
  '--lr',
  '0.02',
  '--data-dir',
  dataDir,
  '--allow-partial',
  '--backend',
  'wasm',
  '--seed',
  '3',
  '--out',
  out(),
  '--checkpoint-every',
  '3',
];

const readMetrics = async () =>
  (await readFile(join(out(), 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('coordinator killed with kill -9 and started with --resume', () => {
  it('continues from the last checkpoint, the workers reconnect, and each sample counts once per epoch', async () => {
    const first = await startCoordinator(args());
    started.push(first);
    const workers = [0, 1].map((i) =>
      startFleet(['worker', '--coordinator', `127.0.0.1:${first.port}`, '--name', `resume-${i}`, '--connect-timeout', '60']),
    );
    started.push(...workers);

    // Kill it in the middle of epoch 1, after a periodic checkpoint.
    await first.waitFor(/"round":(8|9|1\d),.*"reason":"every N rounds","msg":"checkpoint written"/);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startFleet(['coordinator', '--host', '127.0.0.1', '--port', String(first.port), ...args(), '--resume']);
    started.push(second);
    await second.waitFor(/"msg":"resumed from checkpoint"/);
    const exits = await Promise.all([second.exited, ...workers.map((w) => w.exited)]);
    expect(
      exits.map((e) => e.code),
      second.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);

    // The workers found the new coordinator on their own (retry, then register again).
    expect(
      workers.some((w) => w.lines.some((l) => l.includes('coordinator unavailable: retrying') || l.includes('registered again'))),
    ).toBe(true);
    const resumed = JSON.parse(second.lines.find((l) => l.includes('resumed from checkpoint'))!);
    expect(resumed.round).toBeGreaterThanOrEqual(8);

    // Samples trained between the checkpoint and the kill are trained again, not counted twice.
    const metrics = await readMetrics();
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    expect(metrics.map((m) => m.trainSamples)).toEqual([960, 960]);
  });

  it('the finished run extended with --resume --epochs 3 trains epoch 3 under a re-planned schedule', async () => {
    const coordinator = await startCoordinator([...args(), '--resume', '--epochs', '3']);
    started.push(coordinator);
    // The run's config (2 workers) is the checkpoint's.
    const workers = [0, 1].map((i) =>
      startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `extend-${i}`, '--connect-timeout', '60']),
    );
    started.push(...workers);
    const exits = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
    expect(
      exits.map((e) => e.code),
      coordinator.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    expect(
      coordinator.lines.some((l) => l.includes('extending the run from 2 to 3 epochs: the learning-rate schedule is re-planned')),
    ).toBe(true);
    expect((await readMetrics()).map((m) => m.epoch)).toEqual([1, 2, 3]);
    const config = JSON.parse(await readFile(join(out(), 'config.json'), 'utf8'));
    expect(config.config.epochs).toBe(3);

    // Below the epochs trained: a usage error naming --epochs; nothing starts.
    const lower = await runFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args(), '--resume', '--epochs', '2']);
    expect(lower.code).toBe(2);
    expect(lower.stderr).toMatch(/fleet: invalid configuration: --epochs 2: .* has trained 3 epochs/);
  });

  it('--resume without a checkpoint is a usage error (exit 2) naming the folder', async () => {
    const empty = join(root, 'empty');
    const result = await runFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args(), '--out', empty, '--resume']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`fleet: --resume: no checkpoint.fleet in ${empty}; start without --resume`);
  });
});
