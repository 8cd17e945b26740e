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

export interface RestartLoopOptions {
  /** True once the subscription is stopping or its connection closed: no further session. */
  stopped: () => boolean;
  /** Aborted by stop(): cuts a back-off short. */
  signal: AbortSignal;
  log: Logger;
  /** Names the loop in its log line ('consume', 'follow'). */
  what: string;
  /** One consume session; calls `delivered()` for each message, which resets the back-off. */
  session: (delivered: () => void) => Promise<void>;
  /** True when the next session should start at once (a fresh connection). */
  restartNow?: () => boolean;
  /** Fields for the error's log line. */
  fields?: () => Record<string, unknown>;
}

/**
 * Runs consume sessions until stopped: a session that ends or fails (logged)
 * is followed by the next after a back-off that grows while sessions deliver
 * nothing, so an outage is retried without spinning.
 */
export async function restartLoop(o: RestartLoopOptions): Promise<void> {
  let restarts = 0;
  while (!o.stopped()) {
    try {
      await o.session(() => {
        restarts = 0;
      });
    } catch (err) {
      if (o.stopped()) break;
      o.log.warn({ ...o.fields?.(), err: (err as Error).message }, `${o.what} ended with an error: restarting`);
    }
    if (o.stopped()) break;
    if (o.restartNow?.()) continue;
    restarts++;
    await sleepUnless(o.signal, restartDelayMs(restarts));
  }
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
