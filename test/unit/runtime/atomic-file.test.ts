import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAtomicTempName, writeFileAtomic } from '../../../src/runtime/atomic-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates and replaces files, leaving no temp file behind', async () => {
    const path = join(dir, 'a.json');
    await writeFileAtomic(path, '{"v":1}');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    expect(await readdir(dir)).toEqual(['a.json']);
  });

  it('a failed write removes its temp file and leaves the target untouched', async () => {
    // rename(file, non-empty dir) fails: stands in for a crash/IO error before the commit point
    const target = join(dir, 'busy');
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'x');
    await expect(writeFileAtomic(target, 'new')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['busy']);
    expect(await readFile(join(target, 'keep'), 'utf8')).toBe('x');
  });

  it('fails cleanly when the folder does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'x'), 'y')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('names temp files so readers can tell them apart', async () => {
    expect(isAtomicTempName('.weights.bin.123.ab12cd34.tmp')).toBe(true);
    expect(isAtomicTempName('weights.bin')).toBe(false);
  });
});
