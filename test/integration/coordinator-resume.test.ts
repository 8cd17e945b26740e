import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';

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

describe('coordinator killed with kill -9 and started with --resume', () => {
  it('continues from the last checkpoint, the workers reconnect, and each sample counts once per epoch', async () => {
    const out = join(root, 'run');
    const args = [
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
      out,
      '--checkpoint-every',
      '3',
    ];
    const first = await startCoordinator(args);
    started.push(first);
    const workers = [0, 1].map((i) =>
      startFleet(['worker', '--coordinator', `127.0.0.1:${first.port}`, '--name', `resume-${i}`, '--connect-timeout', '60']),
    );
    started.push(...workers);

    // Kill it in the middle of epoch 1, after a periodic checkpoint.
    await first.waitFor(/"round":(8|9|1\d),.*"reason":"every N rounds","msg":"checkpoint written"/);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startFleet(['coordinator', '--host', '127.0.0.1', '--port', String(first.port), ...args, '--resume']);
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
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    expect(metrics.map((m) => m.trainSamples)).toEqual([960, 960]);
  });
});
