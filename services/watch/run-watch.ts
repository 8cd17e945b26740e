import type { FleetEvent } from '../../src/events/event-payloads.js';
import { renderJsonLine, renderView } from './watch-render.js';
import { RunView, type WatchSnapshot } from './watch-state.js';

/**
 * `fleet watch` without the transport: it takes the bus's `follow` as a
 * function, so tests replay an array of events and the CLI passes the NATS
 * one. Three outputs: --json lines as events arrive; a frame redrawn in place
 * on a terminal; plain frames for logs and pipes, printed when something a
 * reader cares about changes and otherwise at most every `plainEveryMs`.
 */

export type FollowFrom = 'start' | 'new';
export type FollowFn = (
  run: string,
  handler: (event: FleetEvent) => void,
  options: { from: FollowFrom },
) => Promise<{ stop(): Promise<void> }>;
export type WatchOutcome = 'finished' | 'failed' | 'stopped';

export interface RunWatchOptions {
  follow: FollowFn;
  run: string;
  json: boolean;
  out: NodeJS.WritableStream;
  isTTY: boolean;
  /** Terminal redraw period (default 500). */
  refreshMs?: number;
  /** Resolve at run.finished (default true); false keeps following (a resumed run starts again). */
  untilFinished?: boolean;
  signal?: AbortSignal;
  /** Not a terminal: between milestones, a frame at most every this many ms while events change the view (default 5000). */
  plainEveryMs?: number;
  /** Default 'start': the whole history gives the totals, best model and current epoch. */
  from?: FollowFrom;
  /** Columns (default: the stream's, else 100). */
  width?: number;
  /** Default: on a terminal unless NO_COLOR is set. */
  color?: boolean;
  /** The watcher's clock, for "quiet for" (default Date.now). */
  now?: () => number;
}

interface Output {
  open(view: RunView): void;
  event(e: FleetEvent, view: RunView): void;
  tick(view: RunView): void;
  close(view: RunView): void;
}

/** A frame of the view as it stood at `nowMs`. */
type Frame = (view: RunView, nowMs: number) => string;

const TTY_FALLBACK_WIDTH = 100;

export async function runWatch(options: RunWatchOptions): Promise<WatchOutcome> {
  const o = {
    refreshMs: 500,
    untilFinished: true,
    plainEveryMs: 5000,
    from: 'start' as FollowFrom,
    now: Date.now,
    color: options.isTTY && !process.env.NO_COLOR,
    ...definedOnly(options),
  };
  if (o.signal?.aborted) return 'stopped';

  const view = new RunView(o.run);
  const width = (): number => o.width ?? (o.out as { columns?: number }).columns ?? TTY_FALLBACK_WIDTH;
  const output: Output = o.json
    ? jsonOutput(o.out)
    : o.isTTY
      ? // One column spare: a line that fills the terminal exactly may wrap and spoil the redraw's line count.
        liveOutput(o.out, (v, nowMs) => renderView(v.snapshot(nowMs), { width: width() - 1, color: o.color }), o.now)
      : plainOutput(
          o.out,
          (v, nowMs) => renderView(v.snapshot(nowMs), { width: o.width ?? TTY_FALLBACK_WIDTH, color: o.color }),
          o.now,
          o.plainEveryMs,
        );

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
    view.apply(event);
    output.event(event, view);
    if (event.type === 'run.finished' && o.untilFinished) {
      end((event as FleetEvent<'run.finished'>).data.status);
    }
  };
  const onAbort = (): void => end('stopped');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  output.open(view);
  const timer = o.json ? null : setInterval(() => output.tick(view), o.isTTY ? o.refreshMs : Math.min(o.refreshMs * 2, o.plainEveryMs));

  // follow may replay synchronously before it resolves, or hang while the
  // bus connects: either way the outcome decides, and a subscription that
  // arrives late is stopped when it does. (async: a throw becomes a rejection, cleaned up below.)
  const subscribing = (async () => o.follow(o.run, handler, { from: o.from }))();
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
    if (timer !== null) clearInterval(timer);
    output.close(view);
    if (subscription.current !== null) await subscription.current.stop();
    else subscribing.then((s) => s.stop()).catch(() => {});
  }
}

function jsonOutput(out: NodeJS.WritableStream): Output {
  const nothing = (): void => {};
  return { open: nothing, event: (e) => void out.write(renderJsonLine(e)), tick: nothing, close: nothing };
}

/**
 * Redraws over the previous frame (cursor up its line count, clear to the
 * end of the screen) on each tick and at the end; drawn once at the start
 * so "waiting for run.started" shows before the first event.
 */
function liveOutput(out: NodeJS.WritableStream, frame: Frame, now: () => number): Output {
  let previousLines = 0;
  const draw = (v: RunView): void => {
    const text = frame(v, now());
    out.write(`${previousLines > 0 ? `\x1b[${previousLines}F\x1b[J` : ''}${text}\n`);
    previousLines = text.split('\n').length;
  };
  return { open: draw, event: () => {}, tick: draw, close: draw };
}

/**
 * Frames as plain text: at once when a milestone changes (config, epoch,
 * members, eval, best, straggler, finish), otherwise the latest state at
 * most every `everyMs` while events keep coming. A milestone frame is drawn
 * as of its event's time, so replaying history from the start does not
 * call every worker quiet.
 */
function plainOutput(out: NodeJS.WritableStream, frame: Frame, now: () => number, everyMs: number): Output {
  let lastKey = '';
  let lastPrintMs = -Infinity;
  let dirty = false;
  const print = (v: RunView, atMs: number): void => {
    out.write(`${frame(v, atMs)}\n\n`);
    lastPrintMs = now();
    dirty = false;
  };
  return {
    open: () => {},
    event: (e, v) => {
      const eventMs = Date.parse(e.time);
      const atMs = Number.isFinite(eventMs) ? eventMs : now();
      const key = milestoneKey(v.snapshot(atMs));
      dirty = true;
      if (key !== lastKey) {
        lastKey = key;
        print(v, atMs);
      }
    },
    tick: (v) => {
      if (dirty && now() - lastPrintMs >= everyMs) print(v, now());
    },
    close: (v) => {
      if (dirty) print(v, now());
    },
  };
}

/** What a reader of a log wants a fresh frame for as soon as it happens. */
export function milestoneKey(s: WatchSnapshot): string {
  const members = s.members.map((m) => `${m.worker}:${m.status}`).join(',');
  return JSON.stringify([
    s.config,
    s.epoch,
    members,
    s.latestEval?.version,
    s.best?.version,
    s.best?.path,
    s.straggler?.worker,
    s.finished?.status,
  ]);
}

/** Lets `{ ...defaults, ...options }` keep a default where an option is passed as undefined. */
function definedOnly<T extends object>(x: T): T {
  return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as T;
}
