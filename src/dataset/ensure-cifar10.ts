import { pino } from 'pino';
import { downloadCifar10, type DownloadCifar10Options, type DownloadCifar10Result } from './download-cifar10.js';
import { checkCifar10Files } from './install-state.js';

export interface EnsureCifar10Options extends DownloadCifar10Options {
  /** Accept whichever data_batch_N.bin exist (plus test_batch.bin) instead of downloading. */
  allowPartial?: boolean;
}

/**
 * For `npm start`: use the files if they are there, download them if not.
 * Offline with no files it fails fast with the install-by-hand message.
 */
export async function ensureCifar10(options: EnsureCifar10Options): Promise<DownloadCifar10Result> {
  const log = options.log ?? pino({ level: 'silent' });
  const state = await checkCifar10Files(options.dir, options.allowPartial ?? false);
  if (state.ok) {
    log.debug({ batchesDir: state.batchesDir }, 'CIFAR-10 present');
    return { batchesDir: state.batchesDir, downloaded: false };
  }
  log.info({ dir: options.dir, problem: state.problem }, 'CIFAR-10 files not found, downloading');
  return downloadCifar10(options);
}

/** `--download` of fleet train and fleet coordinator: CIFAR-10 into --data-dir when absent, from --data-url when given. */
export async function downloadIfAsked(
  config: { download: boolean; dataDir: string; dataUrl: string | null; allowPartial: boolean },
  log: NonNullable<EnsureCifar10Options['log']>,
): Promise<void> {
  if (!config.download) return;
  await ensureCifar10({ dir: config.dataDir, allowPartial: config.allowPartial, log, ...(config.dataUrl ? { url: config.dataUrl } : {}) });
}
