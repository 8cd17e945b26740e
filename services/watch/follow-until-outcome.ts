import type { FleetEvent } from '../../src/events/event-payloads.js';

export type FollowFrom = 'start' | 'new';
export type FollowFn = (
  key: string,
  handler: (event: FleetEvent) => void,
  options: { from: FollowFrom },
) => Promise<{ stop(): Promise<void> }>;
export type WatchOutcome = 'finished' | 'failed' | 'stopped';

/** What watching a run and watching a sweep both take. */
export interface WatchOptions {
  follow: FollowFn;
  json: boolean;
  out: NodeJS.WritableStream;
  isTTY: boolean;
  /** Terminal redraw period (default 500). */
  refreshMs?: number;
  /** Resolve at run.finished or sweep.finished (default true); false keeps following (a resumed run or sweep starts again). */
  untilFinished?: boolean;
  signal?: AbortSignal;
  /** Default 'start': the whole history first. */
  from?: FollowFrom;
  /** Terminal columns (default: the stream's, read at each redraw, else 100). */
  width?: number;
}

export interface FollowUntilOptions {
  follow: FollowFn;
  /** The run or sweep id followed. */
  key: string;
  from: FollowFrom;
  signal?: AbortSignal;
  /** Each event until the outcome is decided; returns the outcome an event decides (run.finished, sweep.finished), else null. */
  onEvent(event: FleetEvent): WatchOutcome | null;
  /** Called once the outcome is decided, before the subscription is stopped (last redraw, timers). */
  onEnd(): void;
}

/**
 * Follows `key` until an event or the abort signal decides the outcome.
 * follow may replay synchronously before it resolves, or hang while the bus
 * connects: either way the outcome decides, and a subscription that arrives
 * late is stopped when it does. (async: a throw becomes a rejection, cleaned up below.)
 */
export async function followUntilOutcome(o: FollowUntilOptions): Promise<WatchOutcome> {
  let outcome: WatchOutcome | null = null;
  let settle: (x: WatchOutcome) => void = () => {};
  const done = new Promise<WatchOutcome>((resolve) => (settle = resolve));
  const end = (x: WatchOutcome): void => {
    if (outcome !== null) return;
    outcome = x;
    settle(x);
  };
  const handler = (event: FleetEvent): void => {
    // The bus may deliver a few more before stop() takes effect.
    if (outcome !== null) return;
    const decided = o.onEvent(event);
    if (decided !== null) end(decided);
  };
  const onAbort = (): void => end('stopped');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const subscribing = (async () => o.follow(o.key, handler, { from: o.from }))();
  const subscription: { current: { stop(): Promise<void> } | null } = { current: null };
  try {
    await Promise.race([
      subscribing.then((s) => {
        subscription.current = s;
      }),
      done,
    ]);
    return await done;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    o.onEnd();
    if (subscription.current !== null) await subscription.current.stop();
    else subscribing.then((s) => s.stop()).catch(() => {});
  }
}
