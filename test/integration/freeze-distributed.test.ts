import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/model/index.js';
import { readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../services/coordinator/coordinator-run.js';
import { layoutLength, readWeights, weightLayout, type WeightSlice } from '../../src/training/flat-weights.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { logLines } from '../helpers/run-fleet.js';
import { processScratch, type ProcessScratch } from '../helpers/process-scratch.js';

/**
 * --freeze-epochs with a coordinator and 2 workers (tiny-bn: conv1 -> bn1 ->
 * fc): during the frozen epoch the master's conv1 and bn1 (moving statistics
 * included) stay bit-identical to the initial model and the contributions
 * carry the head only, as do the parameter fetches once a worker has the
 * frozen tensors (fewer bytes both ways); after it every layer trains and
 * the whole model travels.
 */

let root: string;
let dataDir: string;
let layout: WeightSlice[];
let initial: Float32Array;
let scratch: ProcessScratch;

beforeAll(async () => {
  scratch = await processScratch('fleet-freeze-distributed-', 21);
  ({ root, dataDir } = scratch);
  await tf.setBackend('cpu');
  const model = buildModel({ name: 'tiny-bn', seed: 9 });
  layout = weightLayout(model);
  initial = readWeights(model, layout, new Float32Array(layoutLength(layout)));
  model.dispose();
});

afterAll(() => scratch.dispose());

const track = <T extends FleetProcess>(p: T): T => scratch.track(p);

/** A coordinator and 2 workers to the end; the final master parameters and the workers' round lines. */
async function run(
  name: string,
  epochs: number,
  extra: string[] = [],
): Promise<{ params: Float32Array; rounds: Record<string, unknown>[] }> {
  const out = join(root, name);
  const coordinator = track(
    await startCoordinator([
      ...['--model', 'tiny-bn', '--lr', '0.05', '--warmup-epochs', '0', '--data-dir', dataDir, '--allow-partial'],
      ...['--backend', 'wasm', '--augment', 'none', '--seed', '9', '--batch-size', '32', '--workers', '2'],
      ...['--epochs', String(epochs), '--freeze-epochs', '1', '--out', out, ...extra],
    ]),
  );
  const workers = [0, 1].map((i) =>
    track(startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `${name}-${i}`])),
  );
  const exits = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
  expect(
    exits.map((e) => e.code),
    coordinator.lines.slice(-5).join('\n'),
  ).toEqual([0, 0, 0]);
  const rounds = workers.flatMap((w) => logLines(w.lines.join('\n')).filter((l) => l.msg === 'round contributed'));
  return { params: (await readCheckpoint(join(out, CHECKPOINT_FILE))).arrays.params!, rounds };
}

function tensor(params: Float32Array, name: string): Float32Array {
  const slice = layout.find((s) => s.name === name)!;
  return params.slice(slice.offset, slice.offset + slice.length);
}

const FROZEN = ['conv1/kernel', 'bn1/gamma', 'bn1/beta', 'bn1/moving_mean', 'bn1/moving_variance'];
const HEAD = ['fc/kernel', 'fc/bias'];

describe('--freeze-epochs with 2 workers', () => {
  it('keeps frozen tensors off the wire and unchanged in the frozen epoch, and trains them after', async () => {
    const [frozen, both] = await Promise.all([run('frozen', 1), run('both', 2)]);
    for (const name of FROZEN) expect(tensor(frozen.params, name), name).toEqual(tensor(initial, name));
    for (const name of HEAD) expect(tensor(frozen.params, name), name).not.toEqual(tensor(initial, name));
    for (const name of [...FROZEN, ...HEAD]) expect(tensor(both.params, name), name).not.toEqual(tensor(initial, name));

    const floats = (names: string[]) => names.reduce((n, name) => n + layout.find((s) => s.name === name)!.length, 0);
    const bytesIn = (epoch: number) => new Set(both.rounds.filter((r) => r.epoch === epoch).map((r) => r.bytes));
    const modelBytes = layoutLength(layout) * 4;
    const headBytes = floats(HEAD) * 4;
    expect(bytesIn(1)).toEqual(new Set([headBytes]));
    expect(bytesIn(2)).toEqual(new Set([modelBytes]));
    // Downloads: each worker's first fetch is the whole model, its later frozen-epoch fetches the head only.
    const downloads = (epoch: number) => both.rounds.filter((r) => r.epoch === epoch).map((r) => r.downloadBytes);
    expect(downloads(1).filter((b) => b === modelBytes)).toHaveLength(2);
    expect(new Set(downloads(1).filter((b) => b !== modelBytes))).toEqual(new Set([headBytes]));
    expect(new Set(downloads(2))).toEqual(new Set([modelBytes]));
  }, 120_000);

  it('--train-bn: BatchNorm trains and travels with the head, conv1 stays as it was', async () => {
    const { params, rounds } = await run('train-bn', 1, ['--train-bn']);
    expect(tensor(params, 'conv1/kernel')).toEqual(tensor(initial, 'conv1/kernel'));
    for (const name of [...FROZEN.slice(1), ...HEAD]) expect(tensor(params, name), name).not.toEqual(tensor(initial, name));
    const subset = [...FROZEN.slice(1), ...HEAD].reduce((n, name) => n + layout.find((s) => s.name === name)!.length * 4, 0);
    expect(new Set(rounds.map((r) => r.bytes))).toEqual(new Set([subset]));
  }, 60_000);
});
