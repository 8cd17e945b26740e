import cliProgress from 'cli-progress';
import type { Logger } from '../runtime/logger.js';

/** 'auto': a bar when stderr is a terminal, log lines otherwise. */
export type ProgressMode = 'auto' | 'bar' | 'log' | 'none';

export interface DownloadProgress {
  update(receivedBytes: number): void;
  stop(): void;
}

const MB = 1024 * 1024;
const mb = (bytes: number): string => (bytes / MB).toFixed(1);

/**
 * Progress of a byte transfer: a cli-progress bar on a terminal (stderr, so
 * JSON logs on stdout stay clean), else a pino line every `logIntervalMs`,
 * because a bar's carriage returns turn into noise in CI and container logs.
 */
export function createDownloadProgress(options: {
  mode: ProgressMode;
  log: Logger;
  totalBytes: number | undefined;
  logIntervalMs: number;
  stream?: NodeJS.WriteStream;
}): DownloadProgress {
  const { log, totalBytes, logIntervalMs } = options;
  const stream = options.stream ?? process.stderr;
  const mode = options.mode === 'auto' ? (stream.isTTY ? 'bar' : 'log') : options.mode;
  const started = Date.now();

  if (mode === 'none') return { update() {}, stop() {} };

  if (mode === 'bar') {
    const known = totalBytes !== undefined && totalBytes > 0;
    const bar = new cliProgress.SingleBar(
      {
        stream,
        noTTYOutput: true,
        hideCursor: true,
        format: known
          ? 'CIFAR-10 |{bar}| {percentage}% | {receivedMb}/{totalMb} MB | {speed} MB/s | ETA {eta_formatted}'
          : 'CIFAR-10 | {receivedMb} MB | {speed} MB/s',
      },
      cliProgress.Presets.shades_classic,
    );
    const payload = (received: number) => ({
      receivedMb: mb(received),
      totalMb: known ? mb(totalBytes) : '?',
      speed: mb(received / Math.max((Date.now() - started) / 1000, 0.001)),
    });
    bar.start(known ? totalBytes : 0, 0, payload(0));
    return {
      update: (received) => bar.update(known ? received : 0, payload(received)),
      stop: () => bar.stop(),
    };
  }

  let lastLog = started;
  let last = 0;
  const line = (received: number) => {
    const seconds = (Date.now() - started) / 1000;
    log.info(
      {
        receivedBytes: received,
        totalBytes,
        percent: totalBytes ? Math.round((received / totalBytes) * 1000) / 10 : undefined,
        mbPerSec: Math.round((received / MB / Math.max(seconds, 0.001)) * 10) / 10,
      },
      'downloading CIFAR-10',
    );
  };
  return {
    update(received) {
      last = received;
      const now = Date.now();
      if (now - lastLog >= logIntervalMs) {
        lastLog = now;
        line(received);
      }
    },
    stop() {
      line(last);
    },
  };
}
