import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../services/coordinator/coordinator-run.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';

/**
 * A worker makes its round's first batch while the round's parameters
 * download (FLEET_PREFETCH, on by default). Real coordinator and worker
 * processes over gRPC: the same run with and without it ends with the same
 * parameters to the bit, and every round's line splits its time into
 * compute, exchange and waiting.
 */
let root: string;
let dataDir: string;
const started: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-prefetch-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 200, testCount: 40, pattern: 'learnable', seed: 8 });
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

/** Two workers, 6 rounds of 2 x 32 images (with Mixup and CutMix, keyed by step and member), then the checkpoint's parameters. */
async function run(name: string, env: Record<string, string>) {
  const out = join(root, name);
  const coordinator = await startCoordinator([
    '--model',
    'tiny',
    '--lr',
    '0.05',
    '--warmup-epochs',
    '0',
    '--data-dir',
    dataDir,
    '--allow-partial',
    '--limit-train',
    '192',
    '--backend',
    'wasm',
    '--augment',
    'full',
    '--mixup',
    '0.4',
    '--cutmix',
    '1',
    '--label-smoothing',
    '0.1',
    '--seed',
    '3',
    '--epochs',
    '1',
    '--workers',
    '2',
    '--batch-size',
    '32',
    '--out',
    out,
  ]);
  started.push(coordinator);
  const workers = [0, 1].map((i) => {
    const w = startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `${name}-${i}`], env);
    started.push(w);
    return w;
  });
  const exits = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
  expect(
    exits.map((e) => e.code),
    [...coordinator.lines.slice(-3), ...workers.flatMap((w) => w.lines.slice(-3))].join('\n'),
  ).toEqual([0, 0, 0]);
  const rounds = workers.flatMap((w) =>
    w.lines.filter((l) => l.includes('"msg":"round contributed"')).map((l) => JSON.parse(l) as Record<string, number | boolean>),
  );
  const params = (await readCheckpoint(join(out, CHECKPOINT_FILE))).arrays.params!;
  return { params, rounds };
}

describe('worker prefetch (real processes)', () => {
  it('makes each round’s first batch during the download, ends with the parameters of a run without it to the bit, and splits each round into compute, exchange and waiting', async () => {
    const on = await run('prefetch-on', {});
    const off = await run('prefetch-off', { FLEET_PREFETCH: '0' });

    expect(on.rounds).toHaveLength(6);
    expect(off.rounds).toHaveLength(6);
    expect(on.rounds.every((r) => r.prefetched === true)).toBe(true);
    expect(off.rounds.every((r) => r.prefetched === false && r.prefetchMs === 0)).toBe(true);
    expect(on.params.length).toBe(off.params.length);
    const same = Buffer.from(on.params.buffer, on.params.byteOffset, on.params.byteLength).equals(
      Buffer.from(off.params.buffer, off.params.byteOffset, off.params.byteLength),
    );
    expect(same, 'the parameters after 6 rounds differ with and without prefetch').toBe(true);

    for (const r of [...on.rounds, ...off.rounds]) {
      const [compute, exchange, wait, round] = [r.computeMs, r.exchangeMs, r.waitMs, r.roundMs] as number[];
      for (const v of [compute, exchange, wait, round, r.prefetchMs])
        expect(Number.isInteger(v) && (v as number) >= 0, JSON.stringify(r)).toBe(true);
      // Exchange: the download and the upload; compute: the training; together with the wait, the round less bookkeeping.
      expect(Math.abs(exchange! - ((r.downloadMs as number) + (r.uploadMs as number))), JSON.stringify(r)).toBeLessThanOrEqual(1);
      expect(compute, JSON.stringify(r)).toBe(r.trainMs);
      expect(compute! + exchange! + wait!, JSON.stringify(r)).toBeLessThanOrEqual(round! + 3);
      expect(compute! + exchange! + wait!, JSON.stringify(r)).toBeGreaterThanOrEqual(0.8 * round! - 20);
      // The batch was made inside the download's window.
      expect(r.prefetchMs as number, JSON.stringify(r)).toBeLessThanOrEqual((r.downloadMs as number) + 1);
    }
  }, 180_000);
});
