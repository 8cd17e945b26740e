import { mkdir, mkdtemp, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { recoverDirectory, replaceDirectoryAtomic } from '../../../src/runtime/atomic-dir.js';
import { openRunDir } from '../../../src/runtime/run-dir.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-atomic-dir-'));
});

async function writeSet(dir: string, tag: string): Promise<void> {
  await writeFile(join(dir, 'model.json'), `model ${tag}`);
  await writeFile(join(dir, 'meta.json'), `meta ${tag}`);
}

describe('replaceDirectoryAtomic', () => {
  it('replaces the whole set: no file of the old one stays, nothing is left beside it', async () => {
    const best = join(root, 'best');
    await mkdir(best);
    await writeSet(best, 'old');
    await writeFile(join(best, 'only-in-old.bin'), 'x');
    await replaceDirectoryAtomic(best, (next) => writeSet(next, 'new'));
    expect((await readdir(best)).sort()).toEqual(['meta.json', 'model.json']);
    expect(await readFile(join(best, 'meta.json'), 'utf8')).toBe('meta new');
    expect(await readdir(root)).toEqual(['best']);
  });

  it('leaves the target as it was when writing the new set fails', async () => {
    const best = join(root, 'best');
    await mkdir(best);
    await writeSet(best, 'old');
    await expect(
      replaceDirectoryAtomic(best, async (next) => {
        await writeFile(join(next, 'model.json'), 'half');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(await readFile(join(best, 'model.json'), 'utf8')).toBe('model old');
    expect(await readdir(root)).toEqual(['best']);
  });

  it('creates the target when there was none', async () => {
    await replaceDirectoryAtomic(join(root, 'best'), (next) => writeSet(next, 'first'));
    expect(await readFile(join(root, 'best', 'model.json'), 'utf8')).toBe('model first');
  });
});

describe('recoverDirectory', () => {
  it('puts back the set a crash left aside between the two renames, and opening the run directory does it', async () => {
    // The state a kill between rename(best, .best.previous) and rename(next, best) leaves.
    const aside = join(root, '.best.previous');
    await mkdir(aside);
    await writeSet(aside, 'old');
    await openRunDir(root);
    expect(await readFile(join(root, 'best', 'meta.json'), 'utf8')).toBe('meta old');
    expect(await recoverDirectory(join(root, 'best'))).toBe(false);
  });

  it('leaves a complete target alone', async () => {
    const best = join(root, 'best');
    await mkdir(best);
    await writeSet(best, 'current');
    await mkdir(join(root, 'elsewhere'));
    await rename(join(root, 'elsewhere'), join(root, '.best.previous'));
    expect(await recoverDirectory(best)).toBe(false);
    expect(await readFile(join(best, 'model.json'), 'utf8')).toBe('model current');
  });
});
