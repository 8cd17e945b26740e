import * as tf from '@tensorflow/tfjs';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/model/index.js';
import { readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../services/coordinator/coordinator-run.js';
import { layoutLength, weightLayout } from '../../src/training/flat-weights.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { logLines } from '../helpers/run-fleet.js';
import { processScratch, type ProcessScratch } from '../helpers/process-scratch.js';

/**
 * --shards K with real processes: a coordinator, K-1 aggregators and 2
 * workers over gRPC train 1 epoch of a tiny BatchNorm model; the final
 * master values and momentum (the checkpoint, which the coordinator gathers
 * from its aggregators) are bit for bit those of one aggregator with the
 * same seed, and each worker's uploads and downloads are the whole model
 * split across the shards. K = 2 starts its aggregator itself; K = 3 is given
 * two started separately (--aggregators), as on other hosts.
 */

let root: string;
let dataDir: string;
let modelBytes: number;
let scratch: ProcessScratch;

beforeAll(async () => {
  scratch = await processScratch('fleet-shards-', 23);
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
  params: Float32Array;
  momentum: Float32Array;
  rounds: Record<string, unknown>[];
  coordinator: string[];
}

async function startAggregator(extra: string[] = []): Promise<FleetProcess & { port: number }> {
  const p = track(startFleet(['aggregator', '--host', '127.0.0.1', '--port', '0', ...extra]));
  const line = await p.waitFor(/"msg":"listening"/);
  return { ...p, port: Number(/"port":(\d+)/.exec(line)![1]) };
}

/**
 * A coordinator with `extra` and 2 workers to the end of 1 epoch (or, from `resumeFrom`'s checkpoint, of
 * epoch 2); `aggregators` are waited for too. `joining` aggregators join the coordinator once it says where
 * (--shards K --aggregators join: its 'listening' line comes once they have).
 */
async function run(name: string, extra: string[], aggregators: FleetProcess[] = [], resumeFrom?: string, joining = 0): Promise<Run> {
  const out = join(root, name);
  if (resumeFrom) await cp(resumeFrom, out, { recursive: true });
  const start = async (args: string[]) => {
    if (joining === 0) return startCoordinator(args);
    const p = startFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args]);
    const port = Number(/"port":(\d+)/.exec(await p.waitFor(/"msg":"aggregators may join"/))![1]);
    for (let i = 0; i < joining; i++) aggregators.push(await startAggregator(['--coordinator', `127.0.0.1:${port}`]));
    await p.waitFor(/"msg":"listening"/);
    return { ...p, port };
  };
  const coordinator = track(
    await start(
      resumeFrom
        ? ['--resume', '--epochs', '2', '--out', out, '--data-dir', dataDir, '--allow-partial', '--ledger', ...extra]
        : [
            ...['--model', 'tiny-bn', '--lr', '0.05', '--warmup-epochs', '0', '--data-dir', dataDir, '--allow-partial'],
            ...['--backend', 'wasm', '--augment', 'none', '--seed', '9', '--batch-size', '32', '--workers', '2', '--epochs', '1'],
            ...['--ledger', '--out', out, '--checkpoint-every', '2', ...extra],
          ],
    ),
  );
  const workers = [0, 1].map((i) =>
    track(startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `${name}-${i}`])),
  );
  const all = [coordinator, ...workers, ...aggregators];
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} did not end:\n${all.map((p) => p.lines.slice(-4).join('\n')).join('\n---\n')}`)),
      120_000,
    );
  });
  const exits = await Promise.race([Promise.all(all.map((p) => p.exited)), stuck]).finally(() => clearTimeout(timer));
  expect(
    exits.map((e) => e.code),
    [...coordinator.lines.slice(-5), ...workers.flatMap((w) => w.lines.slice(-3)), ...aggregators.flatMap((a) => a.lines.slice(-3))].join(
      '\n',
    ),
  ).toEqual(exits.map(() => 0));
  const epoch = resumeFrom ? 2 : 1;
  const ledger = JSON.parse(await readFile(join(out, `applied-epoch-${epoch}.json`), 'utf8'));
  expect(ledger).toMatchObject({ epoch, ok: true, missingCount: 0, repeatedCount: 0 });
  const checkpoint = await readCheckpoint(join(out, CHECKPOINT_FILE));
  return {
    out,
    params: checkpoint.arrays.params!,
    momentum: checkpoint.arrays.momentum!,
    rounds: workers.flatMap((w) => logLines(w.lines.join('\n')).filter((l) => l.msg === 'round contributed')),
    coordinator: coordinator.lines,
  };
}

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
/** The first test's runs, which the resume test continues. */
const ended: Record<string, Run> = {};

describe('--shards K: the parameters split across K aggregators', () => {
  it('K = 2 (a local aggregator) and K = 3 (two listed) end bit-identical to one aggregator', async () => {
    const listed = await Promise.all([startAggregator(), startAggregator()]);
    const [one, two, three] = await Promise.all([
      run('k1', []),
      run('k2', ['--shards', '2']),
      run('k3', ['--shards', '3', '--aggregators', listed.map((a) => `127.0.0.1:${a.port}`).join(',')], listed),
    ]);
    // 256 images, 2 workers at batch 32: 4 rounds, each worker contributing every round, in every run.
    Object.assign(ended, { one, two });
    for (const r of [one, two, three]) expect(r.rounds).toHaveLength(8);
    expect(two.coordinator.some((l) => l.includes('"msg":"parameters sharded"'))).toBe(true);
    expect(three.coordinator.some((l) => l.includes('"msg":"parameters sharded"'))).toBe(true);
    // Trained: the master moved from its start.
    const fresh = buildModel({ name: 'tiny-bn', seed: 9 });
    const start = new Float32Array(layoutLength(weightLayout(fresh)));
    fresh.dispose();
    expect(Buffer.compare(bytesOf(one.params), bytesOf(start))).not.toBe(0);
    for (const r of [two, three]) {
      expect(Buffer.compare(bytesOf(r.params), bytesOf(one.params))).toBe(0);
      expect(Buffer.compare(bytesOf(r.momentum), bytesOf(one.momentum))).toBe(0);
    }
    // Every round each worker sends and receives the whole model, split across the shards.
    for (const r of [one, two, three]) {
      expect(new Set(r.rounds.map((l) => l.bytes))).toEqual(new Set([modelBytes]));
      expect(new Set(r.rounds.map((l) => l.downloadBytes))).toEqual(new Set([modelBytes]));
    }
  }, 180_000);

  it('a resume loads the checkpoint into the aggregators (one that joined): a second epoch at K = 2 ends as at K = 1', async () => {
    expect(ended.one && ended.two, 'the first test ran').toBeTruthy();
    // The checkpoint is the one-aggregator format whatever K wrote it: K = 2's resumed with K = 1, K = 1's with K = 2,
    // whose aggregator joins from elsewhere (fleet aggregator --coordinator), as from another host.
    const [a, b] = await Promise.all([
      run('k1-resumed', [], [], ended.two!.out),
      run('k2-resumed', ['--shards', '2', '--aggregators', 'join'], [], ended.one!.out, 1),
    ]);
    expect(b.coordinator.some((l) => l.includes('"msg":"aggregator joined"'))).toBe(true);
    expect(a.rounds).toHaveLength(8);
    expect(Buffer.compare(bytesOf(a.params), bytesOf(ended.one!.params))).not.toBe(0);
    expect(Buffer.compare(bytesOf(b.params), bytesOf(a.params))).toBe(0);
    expect(Buffer.compare(bytesOf(b.momentum), bytesOf(a.momentum))).toBe(0);
  }, 120_000);

  it('refuses a shard count the model cannot take, naming it', async () => {
    for (const [k, pattern] of [
      ['0', /--shards 0: must be 1/],
      ['999', /--shards 999: the model has \d+ tensors/],
    ] as const) {
      const p = track(
        startFleet([
          'coordinator',
          ...['--host', '127.0.0.1', '--port', '0', '--model', 'tiny-bn', '--data-dir', dataDir, '--allow-partial'],
          ...['--backend', 'wasm', '--workers', '1', '--epochs', '1', '--out', join(root, `bad-${k}`), '--shards', k],
          ...(k === '999' ? ['--aggregators', Array.from({ length: 998 }, (_, i) => `127.0.0.1:${1 + i}`).join(',')] : []),
        ]),
      );
      const exit = await p.exited;
      expect(exit.code).not.toBe(0);
      expect(p.lines.join('\n')).toMatch(pattern);
    }
  }, 60_000);
});
