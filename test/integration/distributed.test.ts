import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFiles } from '../../src/model/index.js';
import { readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../services/coordinator/coordinator-run.js';
import { findTaskset, workerCpuSets } from '../../services/launcher/cpu-sets.js';
import { allowedCpus } from '../../src/runtime/allowed-cpus.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { logLines, runFleet } from '../helpers/run-fleet.js';

let root: string;
let dataDir: string;
const started: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-distributed-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 960, testCount: 100, pattern: 'learnable', seed: 21 });
  await tf.setBackend('cpu');
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

const training = (extra: string[]) => [
  '--model',
  'tiny',
  '--lr',
  '0.02',
  '--warmup-epochs',
  '0',
  '--data-dir',
  dataDir,
  '--allow-partial',
  '--backend',
  'wasm',
  '--augment',
  'full',
  '--seed',
  '9',
  ...extra,
];

/** The standard grpc.health.v1 Check, as a Kubernetes gRPC probe asks it. */
function healthOf(port: number, service: string): Promise<string> {
  const Client = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as unknown as { check(req: unknown, opts: unknown, cb: (e: Error | null, r: { status: string }) => void): void }).check(
      { service },
      { deadline: new Date(Date.now() + 5000) },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  });
}

function track<T extends FleetProcess>(p: T): T {
  started.push(p);
  return p;
}

describe('distributed training over gRPC (real processes)', () => {
  it('fleet train --workers 2 writes the run directory of a 1-worker run and a best model that loads', async () => {
    const out = join(root, 'launcher');
    const result = await runFleet([
      'train',
      '--workers',
      '2',
      '--epochs',
      '2',
      '--batch-size',
      '32',
      '--pin-workers',
      'on',
      '--single-threaded-gc',
      'on',
      ...training(['--out', out]),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    expect(metrics.every((m) => Number.isFinite(m.testAccuracy) && Number.isFinite(m.trainLoss))).toBe(true);
    expect(metrics[1].trainSamples).toBe(960);
    const meta = JSON.parse(await readFile(join(out, 'best', 'meta.json'), 'utf8'));
    expect(meta.accuracy).toBeGreaterThan(0.5);
    const model = await loadModelFiles(join(out, 'best'));
    expect(model.outputs[0]!.shape).toEqual([null, 10]);

    // A cluster is watched in its logs (one file per process in <out>/logs/): every round's lines name
    // the run, round and epoch, and a worker's its id and where its time went.
    const logFiles = ['coordinator', 'worker-0', 'worker-1'].map((p) => join(out, 'logs', `${p}.log`));
    const lines = logLines((await Promise.all(logFiles.map((f) => readFile(f, 'utf8')))).join('\n'));
    const closed = lines.filter((l) => l.msg === 'round closed');
    const contributed = lines.filter((l) => l.msg === 'round contributed');
    expect(closed.length).toBeGreaterThan(0);
    expect(contributed.length).toBe(2 * closed.length);
    const runId = closed[0]!.run;
    expect(typeof runId).toBe('string');
    for (const l of [...closed, ...contributed]) {
      expect(l).toMatchObject({ run: runId, round: expect.any(Number), epoch: expect.any(Number) });
    }
    for (const l of contributed) {
      expect(l).toMatchObject({
        service: 'worker',
        worker: expect.any(String),
        trainMs: expect.any(Number),
        downloadMs: expect.any(Number),
        uploadMs: expect.any(Number),
      });
    }
    expect(new Set(contributed.map((l) => l.worker)).size).toBe(2);

    // --single-threaded-gc on reaches the workers' node command line (they log their GC when ready).
    expect(lines.filter((l) => l.msg === 'worker ready').map((l) => l.gc)).toEqual(['single-threaded', 'single-threaded']);
    // --pin-workers on: each worker may run only on its own CPUs (it logs them when ready).
    const ready = lines.filter((l) => l.msg === 'worker ready').map((l) => l.cpus as string);
    expect(ready).toHaveLength(2);
    const cpus = allowedCpus();
    if (cpus && cpus.length >= 2 && findTaskset()) {
      const sets = workerCpuSets(cpus, 2)!;
      expect([...ready].sort()).toEqual([...sets].sort());
    } else {
      // The launcher's own line, on its stdout.
      expect(logLines(result.stdout).some((l) => l.msg === '--pin-workers on: not pinned (no taskset, or fewer CPUs than workers)')).toBe(
        true,
      );
    }
  });

  it('2 workers at batch 32 end 5 steps with the parameters of 1 worker at batch 64', async () => {
    const run = async (workers: number, batchSize: number, name: string) => {
      const out = join(root, name);
      const coordinator = track(
        await startCoordinator([
          ...training(['--out', out, '--limit-train', '320']),
          '--epochs',
          '1',
          '--workers',
          String(workers),
          '--batch-size',
          String(batchSize),
        ]),
      );
      const ws = Array.from({ length: workers }, (_, i) =>
        track(startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `${name}-${i}`])),
      );
      const exits = await Promise.all([coordinator.exited, ...ws.map((w) => w.exited)]);
      expect(
        exits.map((e) => e.code),
        coordinator.lines.slice(-5).join('\n'),
      ).toEqual(exits.map(() => 0));
      return (await readCheckpoint(join(out, CHECKPOINT_FILE))).arrays.params!;
    };
    const [two, one] = await Promise.all([run(2, 32, 'exact-2x32'), run(1, 64, 'exact-1x64')]);
    let maxDiff = 0;
    let maxRef = 0;
    for (let i = 0; i < one.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(two[i]! - one[i]!));
      maxRef = Math.max(maxRef, Math.abs(one[i]!));
    }
    expect(maxDiff / maxRef).toBeLessThan(1e-5);
  });

  it('--balance speed: a worker held back by SIGSTOP gets smaller shards, and every index is still applied exactly once', async () => {
    const out = join(root, 'balance');
    const coordinator = track(
      await startCoordinator([
        ...training(['--out', out]),
        '--epochs',
        '2',
        '--workers',
        '2',
        '--batch-size',
        '32',
        '--balance',
        'speed',
        '--ledger',
      ]),
    );
    const ws = [0, 1].map((i) => track(startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `balance-${i}`])));
    // Worker 1 runs a third of the time, like a process on a contended core.
    const slow = ws[1]!.child;
    let stopped = false;
    const throttle = setInterval(() => {
      if (slow.exitCode !== null) return;
      stopped = !stopped;
      slow.kill(stopped ? 'SIGSTOP' : 'SIGCONT');
    }, 10);
    let exits: Awaited<typeof coordinator.exited>[];
    try {
      exits = await Promise.all([coordinator.exited, ws[0]!.exited, ws[1]!.exited]);
    } finally {
      clearInterval(throttle);
      if (slow.exitCode === null) slow.kill('SIGCONT');
    }
    expect(
      exits.map((e) => e.code),
      coordinator.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    const shards = (w: FleetProcess) =>
      logLines(w.lines.join('\n'))
        .filter((l) => l.msg === 'round contributed' && (l.round as number) > 0)
        .map((l) => l.samples as number);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [fast, held] = [shards(ws[0]!), shards(ws[1]!)];
    expect(mean(held), `held back: ${held.join(' ')}; free: ${fast.join(' ')}`).toBeLessThan(0.8 * mean(fast));
    expect(Math.max(...fast)).toBeGreaterThan(32); // above --batch-size: the global batch stays 64
    for (const epoch of [1, 2]) {
      const report = JSON.parse(await readFile(join(out, `applied-epoch-${epoch}.json`), 'utf8'));
      expect(report).toMatchObject({ epoch, ok: true, missingCount: 0, repeatedCount: 0 });
    }
  });

  it('3 workers, one killed with kill -9 mid-epoch: every training index is applied exactly once per epoch', async () => {
    const out = join(root, 'kill');
    const coordinator = track(
      await startCoordinator([
        ...training(['--out', out]),
        '--epochs',
        '2',
        '--workers',
        '3',
        '--batch-size',
        '16',
        '--model',
        'tiny-bn',
        '--ledger',
        '--heartbeat-timeout',
        '2',
        '--round-timeout',
        '20',
      ]),
    );
    expect(await healthOf(coordinator.port, 'fleet.v1.Coordinator')).toBe('SERVING');
    const ws = [0, 1, 2].map((i) => track(startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `kill-${i}`])));
    // Kill worker 1 once it has contributed a few rounds: it dies in the middle of epoch 1.
    await ws[1]!.waitFor(/"round":3,.*"msg":"round contributed"/);
    ws[1]!.child.kill('SIGKILL');
    const exits = await Promise.all([coordinator.exited, ws[0]!.exited, ws[2]!.exited]);
    expect(
      exits.map((e) => e.code),
      coordinator.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    expect(coordinator.lines.some((l) => l.includes('worker evicted'))).toBe(true);
    for (const epoch of [1, 2]) {
      const report = JSON.parse(await readFile(join(out, `applied-epoch-${epoch}.json`), 'utf8'));
      expect(report).toMatchObject({ epoch, ok: true, missingCount: 0, repeatedCount: 0 });
    }
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.trainSamples)).toEqual([960, 960]);
  });
});
