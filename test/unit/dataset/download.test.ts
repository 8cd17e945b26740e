import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChecksumMismatchError, Cifar10DownloadError, downloadCifar10, ensureCifar10, loadCifar10 } from '../../../src/dataset/index.js';
import { writeCifar10Files, type Cifar10Fixture } from '../../fixtures/cifar10-files.js';

let root: string;
let archive: string;
let archiveMd5: string;
let fixture: Cifar10Fixture;
let server: Server;
let base: string;
let testNo = 0;

/** A fresh data folder per test, inside root. */
const freshDir = () => join(root, `data-${++testNo}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-cifar-dl-'));
  const src = join(root, 'src');
  fixture = await writeCifar10Files(src, { trainBatches: 5, perBatch: 20, testCount: 30, seed: 7, layout: 'nested' });
  archive = join(root, 'cifar-10-binary.tar.gz');
  await tar.c({ gzip: true, file: archive, cwd: src }, ['cifar-10-batches-bin']);
  archiveMd5 = createHash('md5')
    .update(await readFile(archive))
    .digest('hex');

  server = createServer((req, res) => {
    if (req.url === '/cifar-10-binary.tar.gz') {
      void stat(archive).then(({ size }) => {
        res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': size });
        createReadStream(archive).pipe(res);
      });
    } else if (req.url === '/stall') {
      res.writeHead(200, { 'content-length': 100_000 });
      res.write(Buffer.alloc(10));
    } else if (req.url === '/hang') {
      // Accept the connection, never answer: what a black-holed host looks like.
    } else {
      res.writeHead(404).end('not here');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

async function closedPortUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`;
}

describe('downloadCifar10', () => {
  it('downloads, verifies, extracts, and the loader reads the result', async () => {
    const dir = freshDir();
    const events: { receivedBytes: number; totalBytes: number | undefined }[] = [];
    const result = await downloadCifar10({
      dir,
      url: `${base}/cifar-10-binary.tar.gz`,
      md5: archiveMd5,
      progress: 'none',
      onProgress: (e) => events.push(e),
    });
    expect(result).toMatchObject({ batchesDir: join(dir, 'cifar-10-batches-bin'), downloaded: true });
    const { size } = await stat(archive);
    expect(result.bytes).toBe(size);
    expect(events.at(-1)).toEqual({ receivedBytes: size, totalBytes: size });
    // Only the final folder remains: no temp archive, no staging folder.
    expect(await readdir(dir)).toEqual(['cifar-10-batches-bin']);

    const data = await loadCifar10({ dir, allowPartial: false });
    expect(data.train.count).toBe(100);
    expect(data.train.images).toEqual(fixture.train.images);
    expect(data.test.labels).toEqual(fixture.test.labels);
    expect(data.classNames).toEqual(fixture.classNames);

    // Present and valid: a second call does not touch the network.
    const again = await downloadCifar10({ dir, url: await closedPortUrl(), md5: archiveMd5, progress: 'none' });
    expect(again).toEqual({ batchesDir: join(dir, 'cifar-10-batches-bin'), downloaded: false });
  });

  it('logs progress lines through pino when not on a terminal', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const log = pino({ level: 'info' }, sink);
    await downloadCifar10({
      dir: freshDir(),
      url: `${base}/cifar-10-binary.tar.gz`,
      md5: archiveMd5,
      log,
      progress: 'log',
      progressIntervalMs: 0,
    });
    const progress = lines.filter((l) => l.msg === 'downloading CIFAR-10' && typeof l.receivedBytes === 'number');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ percent: 100 });
    expect(lines.some((l) => l.msg === 'CIFAR-10 installed')).toBe(true);
  });

  it('rejects an MD5 mismatch and leaves nothing behind', async () => {
    const dir = freshDir();
    const wrong = '0123456789abcdef0123456789abcdef';
    const err = await downloadCifar10({ dir, url: `${base}/cifar-10-binary.tar.gz`, md5: wrong, progress: 'none' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect(err).toMatchObject({ expected: wrong, got: archiveMd5 });
    expect((err as Error).message).toContain(`expected ${wrong}, got ${archiveMd5}`);
    // Nothing left: not the temp files, not the folder the download created.
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('fails fast when the host is unreachable, saying how to install by hand', async () => {
    const dir = freshDir();
    const started = Date.now();
    const err = await downloadCifar10({ dir, url: await closedPortUrl(), progress: 'none' }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(Cifar10DownloadError);
    expect(err).toMatchObject({ stage: 'connect' });
    const message = (err as Error).message;
    expect(message).toMatch(/refused/);
    expect(message).toContain(`Put data_batch_1.bin`);
    expect(message).toContain('test_batch.bin');
    expect(message).toContain(join(dir, 'cifar-10-batches-bin'));
    expect(message).toContain('fleet data download');
    // Nothing left: not the temp files, not the folder the download created.
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('gives up on a host that accepts but never answers after connectTimeoutMs', async () => {
    const dir = freshDir();
    const started = Date.now();
    const err = await downloadCifar10({ dir, url: `${base}/hang`, connectTimeoutMs: 300, progress: 'none' }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(Cifar10DownloadError);
    expect((err as Error).message).toContain('no response within 300 ms');
    // Nothing left: not the temp files, not the folder the download created.
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('gives up on a body that stalls, removing the partial archive', async () => {
    const dir = freshDir();
    const err = await downloadCifar10({ dir, url: `${base}/stall`, stallTimeoutMs: 300, progress: 'none' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: 'transfer' });
    expect((err as Error).message).toContain('no data for 300 ms after 10 bytes');
    // Nothing left: not the temp files, not the folder the download created.
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('a failed download removes only the folders it created: an existing one stays, with what was in it', async () => {
    const dir = freshDir();
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const err = await downloadCifar10({ dir: join(dir, 'a', 'b'), url: await closedPortUrl(), progress: 'none' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Cifar10DownloadError);
    expect(await readdir(dir)).toEqual(['notes.txt']);
  });

  it('reports an HTTP error status', async () => {
    const err = await downloadCifar10({ dir: freshDir(), url: `${base}/missing.tar.gz`, progress: 'none' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: 'http' });
    expect((err as Error).message).toContain('HTTP 404');
  });

  it('moves an incomplete folder aside instead of deleting it', async () => {
    const dir = freshDir();
    await writeCifar10Files(dir, { trainBatches: 1, perBatch: 2, testCount: 0, layout: 'nested' });
    await downloadCifar10({ dir, url: `${base}/cifar-10-binary.tar.gz`, md5: archiveMd5, progress: 'none' });
    const entries = (await readdir(dir)).sort();
    expect(entries).toHaveLength(2);
    expect(entries[0]).toBe('cifar-10-batches-bin');
    expect(entries[1]).toMatch(/^cifar-10-batches-bin\.incomplete-/);
    expect((await loadCifar10({ dir, allowPartial: false })).train.count).toBe(100);
  });
});

describe('ensureCifar10', () => {
  it('uses files already there without any network access', async () => {
    const dir = freshDir();
    await writeCifar10Files(dir, { trainBatches: 1, perBatch: 2, testCount: 2 });
    const url = await closedPortUrl();
    expect(await ensureCifar10({ dir, url, allowPartial: true, progress: 'none' })).toEqual({ batchesDir: dir, downloaded: false });
    // Without allowPartial one batch is not enough: it tries to download, and offline says so.
    await expect(ensureCifar10({ dir, url, progress: 'none' })).rejects.toBeInstanceOf(Cifar10DownloadError);
  });

  it('downloads when the folder is missing', async () => {
    const dir = freshDir();
    await mkdir(dir);
    const result = await ensureCifar10({ dir, url: `${base}/cifar-10-binary.tar.gz`, md5: archiveMd5, progress: 'none' });
    expect(result.downloaded).toBe(true);
    expect((await loadCifar10({ dir, allowPartial: false })).test.count).toBe(30);
  });
});
