import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceDirectoryAtomic } from '../../../src/runtime/atomic-dir.js';
import { writeFileAtomic } from '../../../src/runtime/atomic-file.js';
import { DiskWrites, diskErrorCode, type WriteFailure, WriteOnceFiles } from '../../../src/runtime/disk-writes.js';
import { openRunDir } from '../../../src/runtime/run-dir.js';
import { mountSmallTmpfs, type SmallTmpfs } from '../../helpers/small-tmpfs.js';

// The run-file writers on a real full disk: a 256 KiB tmpfs with a filler file taking every free block.
const mounted = await mountSmallTmpfs('full-disk-unit', 256);
const skip = 'skip' in mounted ? mounted.skip : null;
if (skip) console.log(`full-disk unit tests skipped: ${skip}`);
const disk = mounted as SmallTmpfs;

afterAll(async () => {
  if (!skip) await disk.unmount();
});

const log = pino({ level: 'silent' });
const bytes = (n: number) => new Uint8Array(n).fill(7);

describe.skipIf(skip !== null)('writes on a full disk (tmpfs)', () => {
  beforeAll(async () => {
    await writeFile(join(disk.dir, 'keep.bin'), bytes(8192));
    await mkdir(join(disk.dir, 'best'));
    await writeFile(join(disk.dir, 'best', 'model.json'), '{"old":true}');
    const run = await openRunDir(join(disk.dir, 'run'));
    await run.putMetricsLine({ epoch: 1, testAccuracy: 0.1 });
    await disk.fill();
  });

  it('writeFileAtomic fails with ENOSPC, removes its temp file and leaves the old file as it was', async () => {
    const path = join(disk.dir, 'keep.bin');
    const err = await writeFileAtomic(path, bytes(64 * 1024)).catch((e: unknown) => e);
    expect(diskErrorCode(err)).toBe('ENOSPC');
    expect((await readFile(path)).equals(Buffer.from(bytes(8192)))).toBe(true);
    expect((await readdir(disk.dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('replaceDirectoryAtomic fails with ENOSPC and leaves the old directory whole, no temp directory beside it', async () => {
    const target = join(disk.dir, 'best');
    const err = await replaceDirectoryAtomic(target, async (next) => {
      await writeFile(join(next, 'model.json'), '{"new":true}');
      await writeFile(join(next, 'weights.bin'), bytes(64 * 1024));
    }).catch((e: unknown) => e);
    expect(diskErrorCode(err)).toBe('ENOSPC');
    expect(await readdir(target)).toEqual(['model.json']);
    expect(await readFile(join(target, 'model.json'), 'utf8')).toBe('{"old":true}');
    expect((await readdir(disk.dir)).filter((n) => n.startsWith('.best'))).toEqual([]);
  });

  it('DiskWrites reports a refused write, counts failures in a row, and a later write that succeeds retries the metrics line', async () => {
    const failures: WriteFailure[] = [];
    const writes = new DiskWrites(log, (f) => failures.push(f));
    const run = await openRunDir(join(disk.dir, 'run'));
    const metrics = join(run.path, 'metrics.jsonl');
    // A line big enough that the rewrite needs a block the filler holds.
    const line = (epoch: number) => ({ epoch, testAccuracy: epoch / 10, pad: 'x'.repeat(8192) });
    for (const epoch of [2, 3]) {
      const f = await writes.attempt('metrics', metrics, { epoch }, () => run.putMetricsLine(line(epoch)));
      expect(f).toMatchObject({ what: 'metrics', code: 'ENOSPC', epoch, consecutive: epoch - 1 });
    }
    expect(failures.map((f) => f.consecutive)).toEqual([1, 2]);
    expect(await readFile(metrics, 'utf8')).toBe('{"epoch":1,"testAccuracy":0.1}\n');
    // Another error than a full disk is not swallowed.
    await expect(writes.attempt('run-file', 'x', {}, () => Promise.reject(new Error('bug')))).rejects.toThrow('bug');

    await disk.free();
    expect(await writes.attempt('metrics', metrics, { epoch: 4 }, () => run.putMetricsLine(line(4)))).toBeNull();
    expect(writes.consecutive('metrics')).toBe(0);
    // Epochs 2 and 3, refused before, came with epoch 4's write.
    const epochs = (await readFile(metrics, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { epoch: number }).epoch);
    expect(epochs).toEqual([1, 2, 3, 4]);
    expect((await readdir(run.path)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('WriteOnceFiles keeps a per-epoch file the disk refused and writes it before the next one once space is back', async () => {
    const writes = new DiskWrites(log);
    const files = new WriteOnceFiles(writes, 'run-file');
    const dir = join(disk.dir, 'ledgers');
    await mkdir(dir);
    await disk.fill();
    const big = (epoch: number) => JSON.stringify({ epoch, pad: 'x'.repeat(8192) });
    const ledger = (epoch: number) =>
      files.write(join(dir, `applied-epoch-${epoch}.json`), { epoch }, () =>
        writeFileAtomic(join(dir, `applied-epoch-${epoch}.json`), big(epoch)),
      );
    expect(await ledger(1)).toEqual([join(dir, 'applied-epoch-1.json')]);
    expect(await ledger(2)).toEqual([join(dir, 'applied-epoch-1.json'), join(dir, 'applied-epoch-2.json')]);
    expect(await readdir(dir)).toEqual([]);
    await disk.free();
    expect(await ledger(3)).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['applied-epoch-1.json', 'applied-epoch-2.json', 'applied-epoch-3.json']);
    expect(JSON.parse(await readFile(join(dir, 'applied-epoch-1.json'), 'utf8'))).toMatchObject({ epoch: 1 });
  });
});
