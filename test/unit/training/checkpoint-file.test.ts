import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, readCheckpoint, writeCheckpoint } from '../../../src/training/checkpoint/checkpoint-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-ckpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

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

  it('refuses a header whose values were altered but still parse (the digest covers the header too)', async () => {
    const file = join(dir, 'c.ckpt');
    await writeCheckpoint(file, { version: 17, round: 4 }, { params });
    const bytes = await readFile(file);
    const at = bytes.indexOf('"version":17') + '"version":1'.length;
    bytes[at] = bytes[at]! ^ 0x01; // 17 -> 16: one bit, still valid JSON
    await writeFile(join(dir, 'header.ckpt'), bytes);
    await expect(readCheckpoint(join(dir, 'header.ckpt'))).rejects.toThrow(/header.ckpt is unusable: header and data checksum mismatch/);
  });

  it('still reads a format 1 file (digest of the data only) written by earlier versions', async () => {
    const data = Buffer.from(params.buffer, params.byteOffset, params.byteLength);
    const header = {
      format: 1,
      savedAt: '2026-11-28T00:00:00.000Z',
      state: { round: 3 },
      arrays: [{ name: 'params', byteOffset: 0, length: params.length }],
      sha256: createHash('sha256').update(data).digest('hex'),
    };
    let json = Buffer.from(JSON.stringify(header));
    json = Buffer.concat([json, Buffer.alloc((4 - ((12 + json.length) % 4)) % 4, 0x20)]);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(json.length);
    await writeFile(join(dir, 'v1.ckpt'), Buffer.concat([Buffer.from('FLEETCK1'), length, json, data]));
    const loaded = await readCheckpoint(join(dir, 'v1.ckpt'));
    expect(loaded.header.state).toEqual({ round: 3 });
    expect(loaded.arrays.params).toEqual(params);
  });
});
