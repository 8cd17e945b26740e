import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, readCheckpoint, writeCheckpoint } from '../../../services/coordinator/checkpoint/checkpoint-file.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'fleet-ckpt-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('checkpoint file', () => {
  const params = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i));
  const momentum = Float32Array.from({ length: 1001 }, (_, i) => i / 7);

  it('round-trips state and arrays exactly', async () => {
    const file = join(dir, 'a.ckpt');
    await writeCheckpoint(file, { round: 12, sampler: { epoch: 2, cursor: 640, pool: [3, 1] } }, { params, momentum });
    const loaded = await readCheckpoint(file);
    expect(loaded.header.state).toEqual({ round: 12, sampler: { epoch: 2, cursor: 640, pool: [3, 1] } });
    expect(loaded.arrays.params).toEqual(params);
    expect(loaded.arrays.momentum).toEqual(momentum);
  });

  it('refuses a truncated, altered or foreign file, naming it', async () => {
    const file = join(dir, 'b.ckpt');
    await writeCheckpoint(file, { round: 1 }, { params });
    const bytes = await readFile(file);

    await writeFile(join(dir, 'torn.ckpt'), bytes.subarray(0, bytes.length - 100));
    await expect(readCheckpoint(join(dir, 'torn.ckpt'))).rejects.toThrow(/torn.ckpt.*data is/);

    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 5]! ^= 0xff;
    await writeFile(join(dir, 'flipped.ckpt'), flipped);
    await expect(readCheckpoint(join(dir, 'flipped.ckpt'))).rejects.toThrow(/checksum mismatch/);

    await writeFile(join(dir, 'foreign.ckpt'), 'hello world, not a checkpoint');
    await expect(readCheckpoint(join(dir, 'foreign.ckpt'))).rejects.toThrow(CheckpointError);
    await expect(readCheckpoint(join(dir, 'absent.ckpt'))).rejects.toThrow(/ENOENT/);
  });
});
