import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/model/index.js';
import { readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../services/coordinator/coordinator-run.js';
import { layoutLength, weightLayout } from '../../src/training/flat-weights.js';
import { decodeHalf, encodeHalf } from '../../src/exchange/index.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { logLines } from '../helpers/run-fleet.js';
import { processScratch, type ProcessScratch } from '../helpers/process-scratch.js';

/**
 * --compress with a real coordinator and 2 real workers over gRPC: the
 * coordinator decides (a run key) and the workers, started with no flag
 * for it, learn it from the run config they receive at registration. Every
 * round's upload and download is half the bytes of the same run without
 * it (from the workers' 'round contributed' lines); the ledger still
 * accounts for every sample exactly once; the master stays float32.
 */

let root: string;
let dataDir: string;
let modelBytes: number;
let scratch: ProcessScratch;

beforeAll(async () => {
  scratch = await processScratch('fleet-compress-', 21);
  ({ root, dataDir } = scratch);
  await tf.setBackend('cpu');
  const model = buildModel({ name: 'tiny-bn', seed: 9 });
  modelBytes = layoutLength(weightLayout(model)) * 4;
  model.dispose();
});

afterAll(() => scratch.dispose());

const track = <T extends FleetProcess>(p: T): T => scratch.track(p);

interface Run {
  out: string;
  rounds: Record<string, unknown>[];
  params: Float32Array;
  coordinator: string[];
}

/** A coordinator with `extra` and 2 plain workers to the end of 1 epoch. */
async function run(name: string, extra: string[]): Promise<Run> {
  const out = join(root, name);
  const coordinator = track(
    await startCoordinator([
      ...['--model', 'tiny-bn', '--lr', '0.05', '--warmup-epochs', '0', '--data-dir', dataDir, '--allow-partial'],
      ...['--backend', 'wasm', '--augment', 'none', '--seed', '9', '--batch-size', '32', '--workers', '2', '--epochs', '1'],
      ...['--ledger', '--out', out, ...extra],
    ]),
  );
  const workers = [0, 1].map((i) =>
    track(startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `${name}-${i}`])),
  );
  const exits = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
  expect(
    exits.map((e) => e.code),
    [...coordinator.lines.slice(-5), ...workers.flatMap((w) => w.lines.slice(-3))].join('\n'),
  ).toEqual([0, 0, 0]);
  const rounds = workers.flatMap((w) => logLines(w.lines.join('\n')).filter((l) => l.msg === 'round contributed'));
  const ledger = JSON.parse(await readFile(join(out, 'applied-epoch-1.json'), 'utf8'));
  expect(ledger).toMatchObject({ epoch: 1, ok: true, missingCount: 0, repeatedCount: 0 });
  return { out, rounds, params: (await readCheckpoint(join(out, CHECKPOINT_FILE))).arrays.params!, coordinator: coordinator.lines };
}

const bytesOf = (r: Run, key: 'bytes' | 'downloadBytes') => new Set(r.rounds.map((l) => l[key]));

describe('--compress: 16-bit exchange with 2 workers', () => {
  it('fp16 halves every upload and download against none; the ledger is exact and the master stays float32', async () => {
    const [none, fp16] = await Promise.all([run('none', []), run('fp16', ['--compress', 'fp16'])]);
    // 256 images, 2 workers at batch 32: 4 rounds, each worker contributing every round.
    expect(none.rounds).toHaveLength(8);
    expect(fp16.rounds).toHaveLength(8);
    expect(bytesOf(none, 'bytes')).toEqual(new Set([modelBytes]));
    expect(bytesOf(fp16, 'bytes')).toEqual(new Set([modelBytes / 2]));
    // A worker downloads the parameters every round (the master moves on with each).
    expect(bytesOf(none, 'downloadBytes')).toEqual(new Set([modelBytes]));
    expect(bytesOf(fp16, 'downloadBytes')).toEqual(new Set([modelBytes / 2]));
    const total = (r: Run) => r.rounds.reduce((n, l) => n + (l.bytes as number) + (l.downloadBytes as number), 0);
    expect(total(fp16) / total(none)).toBe(0.5);
    // The coordinator's master is float32: its values are not all on float16's grid (they would be if it were kept in 16 bits).
    const master = fp16.params;
    const halves = new Uint16Array(master.length);
    encodeHalf('float16', new Uint32Array(master.buffer, master.byteOffset, master.length), halves, 'nearest');
    const grid = new Float32Array(master.length);
    decodeHalf('float16', halves, new Uint32Array(grid.buffer));
    expect(master.some((v, i) => v !== grid[i])).toBe(true);
    // Trained, and close to the float32 run: rounding changes the path a little, not where it goes.
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < master.length; i++) {
      diff += (master[i]! - none.params[i]!) ** 2;
      norm += none.params[i]! ** 2;
    }
    expect(Math.sqrt(diff / norm)).toBeGreaterThan(0);
    expect(Math.sqrt(diff / norm)).toBeLessThan(0.05);
    expect(fp16.rounds.every((l) => Number.isFinite(l.loss))).toBe(true);
  }, 180_000);

  it('bf16 with --sync-every 2 (parameters, stochastic rounding) completes with half the bytes, and is reproducible', async () => {
    const args = ['--compress', 'bf16', '--sync-every', '2'];
    const [a, b] = await Promise.all([run('bf16-a', args), run('bf16-b', args)]);
    expect(bytesOf(a, 'bytes')).toEqual(new Set([modelBytes / 2]));
    expect(bytesOf(a, 'downloadBytes')).toEqual(new Set([modelBytes / 2]));
    // The stochastic draws are keyed by seed, round, member and tensor: the same run twice, the same master.
    const bytes = (p: Float32Array) => Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    expect(Buffer.compare(bytes(a.params), bytes(b.params))).toBe(0);
  }, 180_000);
});
