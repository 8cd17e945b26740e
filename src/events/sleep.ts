import type { Logger } from '../runtime/logger.js';

/** Resolves after `ms`, or at once when `signal` aborts (so a stop never waits out a back-off). */
export function sleepUnless(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** The pause before a consumer's restart number `restarts`: doubling from 250 ms, at most 5 s. */
export function restartDelayMs(restarts: number): number {
  return Math.min(5000, 250 * 2 ** Math.min(restarts, 5));
}

/**
 * Stops every subscription, waiting up to `timeoutMs` for their handlers
 * (a handler may still be publishing); logs when one is still running then.
 */
export async function stopSubscriptions(subscriptions: Iterable<{ stop(): Promise<void> }>, timeoutMs: number, log: Logger): Promise<void> {
  const stops = Promise.all([...subscriptions].map((s) => s.stop()));
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
  const stopped = await Promise.race([stops.then(() => true), timeout]);
  if (!stopped) log.warn({ timeoutMs }, 'events bus closing while a handler still runs');
}
