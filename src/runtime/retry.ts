import type { Logger } from './logger.js';

export interface RetryOptions {
  /** Named in the log line of each retry. */
  what: string;
  /** The address waited for, named in the log line of each retry. */
  target?: string;
  /** Stop retrying once this long has passed since the first attempt. */
  timeoutMs: number;
  /** Which failures are worth another attempt; others are thrown at once. */
  retriable: (err: unknown) => boolean;
  log: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Once aborted (a stop signal), no further attempt: the last failure is thrown at once, a wait is cut short. */
  signal?: AbortSignal;
}

/**
 * Calls `call` until it succeeds, a failure is not retriable, or the time is
 * up; waits back off exponentially with +-25% jitter, so a fleet of workers
 * reconnecting to a restarted coordinator does not arrive in lockstep.
 */
export async function retryWithBackoff<T>(o: RetryOptions, call: () => Promise<T>): Promise<T> {
  const started = Date.now();
  let backoffMs = o.initialBackoffMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const leftMs = o.timeoutMs - (Date.now() - started);
      if (!o.retriable(err) || leftMs < 0 || o.signal?.aborted) throw err;
      // Never past the deadline: the last attempt is made when the time is up.
      const waitMs = Math.min(Math.round(backoffMs * (0.75 + Math.random() * 0.5)), leftMs);
      o.log.warn(
        { what: o.what, ...(o.target ? { target: o.target } : {}), attempt, retryInMs: waitMs, leftMs, err: (err as Error).message },
        'coordinator unavailable: retrying',
      );
      await wait(waitMs, o.signal);
      if (o.signal?.aborted) throw err;
      backoffMs = Math.min(o.maxBackoffMs ?? 10_000, backoffMs * 2);
    }
  }
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
