import type { FleetEvent } from '../../src/events/event-payloads.js';
import { FleetError } from '../../src/runtime/errors.js';
import { frameWriter } from './frame-writer.js';
import { type FollowFrom, followUntilOutcome, type WatchOptions, type WatchOutcome } from './follow-until-outcome.js';
import { renderEventLine, renderJsonLine, renderView } from './watch-render.js';
import { RunView } from './watch-state.js';

/**
 * `fleet watch` without the transport: it takes the bus's `follow` as a
 * function, so tests replay an array of events and the CLI passes the NATS
 * one. Three outputs: --json lines as events arrive; a frame redrawn in place
 * on a terminal, as wide as the terminal; without a terminal (a log, a pipe)
 * one logfmt line per event, never cut, so a log collector sees every event
 * on its own line.
 */

/** The run watched ended with run.finished status failed: `fleet watch` exits 1, as the run did. */
export class WatchedRunFailedError extends FleetError {
  constructor(readonly run: string) {
    super(`run ${run} failed (its run.finished event gives the reason, above)`);
  }
}

export interface RunWatchOptions extends WatchOptions {
  run: string;
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
      : lineOutput(o.out, o.now);

  output.open(view);
  const timer = o.isTTY && !o.json ? setInterval(() => output.tick(view), o.refreshMs) : null;
  return followUntilOutcome({
    follow: o.follow,
    key: o.run,
    from: o.from,
    signal: o.signal,
    onEvent: (event) => {
      view.apply(event);
      output.event(event, view);
      return event.type === 'run.finished' && o.untilFinished ? (event as FleetEvent<'run.finished'>).data.status : null;
    },
    onEnd: () => {
      if (timer !== null) clearInterval(timer);
      output.close(view);
    },
  });
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
  const write = frameWriter(out);
  const draw = (v: RunView): void => write(frame(v, now()));
  return { open: draw, event: () => {}, tick: draw, close: draw };
}

/**
 * One line per event (renderEventLine), the view as of the event's own time,
 * so replaying history from the start gives the ETA it gave live.
 */
function lineOutput(out: NodeJS.WritableStream, now: () => number): Output {
  const nothing = (): void => {};
  return {
    open: nothing,
    event: (e, v) => {
      const eventMs = Date.parse(e.time);
      out.write(renderEventLine(e, v.snapshot(Number.isFinite(eventMs) ? eventMs : now())));
    },
    tick: nothing,
    close: nothing,
  };
}

/** Lets `{ ...defaults, ...options }` keep a default where an option is passed as undefined. */
function definedOnly<T extends object>(x: T): T {
  return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as T;
}
