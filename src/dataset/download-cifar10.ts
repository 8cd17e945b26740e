import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { makeDirectories, removeCreatedDirectories } from '../runtime/out-dir.js';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import * as tar from 'tar';
import type { Logger } from '../runtime/logger.js';
import { BATCHES_DIR_NAME, CIFAR10_MD5, CIFAR10_URL } from './cifar10-format.js';
import { canonicalBatchesDir } from './data-dir.js';
import { createDownloadProgress, type ProgressMode } from './download-progress.js';
import { ChecksumMismatchError, Cifar10DownloadError } from './errors.js';
import { fetchToFile } from './fetch-to-file.js';
import { checkCifar10Files } from './install-state.js';

export interface DownloadProgressEvent {
  receivedBytes: number;
  totalBytes: number | undefined;
}

export interface DownloadCifar10Options {
  /** Data folder; the files land in `dir/cifar-10-batches-bin/` (or in `dir` if it is named so). */
  dir: string;
  url?: string;
  /** Expected MD5 of the archive, hex. */
  md5?: string;
  /** Fail if the server has not answered by then. Default 10 s. */
  connectTimeoutMs?: number;
  /** Fail if the body stalls this long. Default 60 s. */
  stallTimeoutMs?: number;
  log?: Logger;
  onProgress?: (event: DownloadProgressEvent) => void;
  /** Default 'auto': a bar on a terminal, a log line every `progressIntervalMs` otherwise. */
  progress?: ProgressMode;
  progressIntervalMs?: number;
  /** Download even if valid files are present. */
  force?: boolean;
}

export interface DownloadCifar10Result {
  /** The folder holding the .bin files, ready for loadCifar10. */
  batchesDir: string;
  downloaded: boolean;
  bytes?: number;
}

const silent = pino({ level: 'silent' });

/**
 * Downloads the official binary release, checks its MD5 and unpacks it.
 * Nothing half-done is ever visible: the archive streams to a temp file and
 * unpacks into a temp folder beside the target, which is renamed into place
 * only once complete; temp files are removed whatever happens, and so are
 * the folders it created when it fails (an offline download leaves no
 * empty data folder behind).
 *
 * @throws Cifar10DownloadError (offline, HTTP error, bad archive), ChecksumMismatchError
 */
export async function downloadCifar10(options: DownloadCifar10Options): Promise<DownloadCifar10Result> {
  const { dir, url = CIFAR10_URL, md5 = CIFAR10_MD5, log = silent } = options;
  const state = await checkCifar10Files(dir);
  if (state.ok && options.force !== true) {
    log.info({ batchesDir: state.batchesDir }, 'CIFAR-10 already present, not downloading');
    return { batchesDir: state.batchesDir, downloaded: false };
  }

  const target = canonicalBatchesDir(dir);
  const parent = dirname(target);
  const created = await makeDirectories(parent);
  // Temp names beside the target: same file system, so the final rename is atomic.
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const archive = join(parent, `.cifar-10-binary.${tag}.tar.gz.part`);
  const staging = join(parent, `.cifar-10-extract.${tag}`);
  log.info({ url, target }, 'downloading CIFAR-10');

  let progress: ReturnType<typeof createDownloadProgress> | undefined;
  let installed = false;
  try {
    let totalBytes: number | undefined;
    const fetched = await fetchToFile({
      url,
      file: archive,
      hintDir: dir,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
      onResponse: (total) => {
        totalBytes = total;
        progress = createDownloadProgress({
          mode: options.progress ?? 'auto',
          log,
          totalBytes: total,
          logIntervalMs: options.progressIntervalMs ?? 5_000,
        });
      },
      onBytes: (receivedBytes) => {
        progress?.update(receivedBytes);
        options.onProgress?.({ receivedBytes, totalBytes });
      },
    });
    progress?.stop();
    progress = undefined;

    if (fetched.md5.toLowerCase() !== md5.toLowerCase())
      throw new ChecksumMismatchError(url, md5.toLowerCase(), fetched.md5, fetched.bytes);
    log.info({ bytes: fetched.bytes, md5: fetched.md5 }, 'CIFAR-10 archive verified, extracting');

    await mkdir(staging);
    try {
      // preserveOwner false: as root, tar would otherwise chown to the archive's uids.
      await tar.x({ file: archive, cwd: staging, strict: true, preserveOwner: false });
    } catch (err) {
      throw new Cifar10DownloadError(url, dir, 'extract', `cannot unpack the archive: ${(err as Error).message}`, { cause: err });
    }
    const unpacked = join(staging, BATCHES_DIR_NAME);
    const check = await checkCifar10Files(unpacked);
    if (!check.ok || check.batchesDir !== unpacked) {
      throw new Cifar10DownloadError(
        url,
        dir,
        'extract',
        `the archive has no complete ${BATCHES_DIR_NAME}/ folder (${check.problem ?? 'wrong layout'})`,
      );
    }
    await moveIntoPlace(unpacked, target, tag, log);
    installed = true;
    log.info({ batchesDir: target, bytes: fetched.bytes }, 'CIFAR-10 installed');
    return { batchesDir: target, downloaded: true, bytes: fetched.bytes };
  } finally {
    progress?.stop();
    await rm(archive, { force: true });
    await rm(staging, { recursive: true, force: true });
    if (!installed) await removeCreatedDirectories(created);
  }
}

/**
 * Renames the unpacked folder to `target`. If `target` exists: another
 * process may just have installed it (fine, keep theirs); otherwise it is
 * an incomplete folder, moved aside rather than deleted, as it is user data.
 */
async function moveIntoPlace(unpacked: string, target: string, tag: string, log: Logger): Promise<void> {
  try {
    await rename(unpacked, target);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY' && code !== 'EISDIR' && code !== 'ENOTDIR') throw err;
  }
  if ((await checkCifar10Files(target)).ok) {
    log.info({ target }, 'CIFAR-10 was installed concurrently, keeping that copy');
    return;
  }
  const aside = `${target}.incomplete-${tag}`;
  await rename(target, aside);
  log.warn({ target, movedTo: aside }, 'moved the incomplete CIFAR-10 folder aside');
  await rename(unpacked, target);
}
