import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { Cifar10DownloadError } from './errors.js';

export interface FetchToFileOptions {
  url: string;
  /** Created exclusively; the caller deletes it on failure. */
  file: string;
  /** For the install hint in errors: the data folder the user asked for. */
  hintDir: string;
  /** Abort if response headers have not arrived by then (unreachable host). */
  connectTimeoutMs: number;
  /** Abort if the body stalls this long between chunks. */
  stallTimeoutMs: number;
  onResponse?: (totalBytes: number | undefined) => void;
  onBytes?: (receivedBytes: number) => void;
}

export interface FetchedFile {
  bytes: number;
  md5: string;
}

/**
 * Streams `url` into `file`, hashing as it goes so the 170 MB archive is
 * never held in memory or read twice. Uses two timeouts rather than one
 * overall deadline: a dead host must fail in seconds, a slow link must not.
 *
 * @throws Cifar10DownloadError (stage connect, http or transfer); fs errors as is
 */
export async function fetchToFile(options: FetchToFileOptions): Promise<FetchedFile> {
  const { url, file, hintDir, connectTimeoutMs, stallTimeoutMs } = options;
  const fail = (stage: 'connect' | 'http' | 'transfer', reason: string, cause?: unknown) =>
    new Cifar10DownloadError(url, hintDir, stage, reason, { cause });

  const abort = new AbortController();
  let timedOut: 'connect' | 'stall' | undefined;
  let timer = setTimeout(() => {
    timedOut = 'connect';
    abort.abort();
  }, connectTimeoutMs);

  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: abort.signal, redirect: 'follow' });
    } catch (err) {
      throw fail(
        'connect',
        timedOut === 'connect'
          ? `no response within ${connectTimeoutMs} ms (host unreachable or offline?)`
          : describeNetworkError(err, url),
        err,
      );
    }
    clearTimeout(timer);
    if (!res.ok || res.body === null) {
      await res.body?.cancel().catch(() => undefined);
      throw fail('http', `HTTP ${res.status} ${res.statusText}`.trim());
    }
    const header = res.headers.get('content-length');
    const totalBytes = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
    options.onResponse?.(totalBytes);

    timer = setTimeout(() => {
      timedOut = 'stall';
      abort.abort();
    }, stallTimeoutMs);

    const hash = createHash('md5');
    const out = createWriteStream(file, { flags: 'wx' });
    let writeError: unknown;
    out.on('error', (err) => (writeError ??= err));
    const reader = res.body.getReader();
    let bytes = 0;
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          const reason = timedOut === 'stall' ? `no data for ${stallTimeoutMs} ms` : describeNetworkError(err, url);
          throw fail('transfer', `${reason} after ${bytes} bytes`, err);
        }
        if (chunk.done) break;
        if (writeError !== undefined) throw writeError;
        timer.refresh();
        hash.update(chunk.value);
        bytes += chunk.value.length;
        options.onBytes?.(bytes);
        if (!out.write(chunk.value)) await once(out, 'drain');
      }
    } finally {
      out.end();
      await finished(out).catch((err: unknown) => (writeError ??= err));
    }
    if (writeError !== undefined) throw writeError;
    if (totalBytes !== undefined && bytes !== totalBytes) {
      throw fail('transfer', `connection closed after ${bytes} of ${totalBytes} bytes`);
    }
    return { bytes, md5: hash.digest('hex') };
  } finally {
    clearTimeout(timer);
  }
}

/** undici hides the useful part (ENOTFOUND, ECONNREFUSED...) in `cause`. */
function describeNetworkError(err: unknown, url: string): string {
  const cause = (err as { cause?: unknown }).cause ?? err;
  const code = (cause as { code?: unknown }).code;
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    host = url;
  }
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${host} (${code}: no DNS, offline?)`;
    case 'ECONNREFUSED':
      return `connection to ${host} refused (${code})`;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `network unreachable for ${host} (${code}: offline?)`;
    default: {
      const message = cause instanceof Error ? cause.message : String(cause);
      return typeof code === 'string' ? `${code}: ${message}` : message;
    }
  }
}
