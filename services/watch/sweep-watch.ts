import type { FleetEvent } from '../../src/events/event-payloads.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { FollowFn, FollowFrom, WatchOutcome } from './run-watch.js';
import { renderJsonLine } from './watch-render.js';
import { renderSweepEventLine, renderSweepView, SweepView } from './sweep-view.js';

/** The sweep watched ended with every trial failed: `fleet watch --sweep` exits 1, as the sweep did. */
export class WatchedSweepFailedError extends FleetError {
  constructor(readonly sweep: string) {
    super(`sweep ${sweep} failed: every trial failed (their reasons are in the table above and in SWEEP_DIR/trials/<id>.log)`);
  }
}

export interface SweepWatchOptions {
  follow: FollowFn;
  sweep: string;
  json: boolean;
  out: NodeJS.WritableStream;
  isTTY: boolean;
  /** Terminal redraw period (default 500). */
  refreshMs?: number;
  /** Resolve at sweep.finished (default true); false keeps following (a resumed sweep starts again). */
  untilFinished?: boolean;
  signal?: AbortSignal;
  from?: FollowFrom;
  /** Terminal columns (default: the stream's, else 100). */
  width?: number;
}

/**
 * `fleet watch --sweep ID`: the sweep's trial table (id, params, status,
 * epoch, best, pruned at), redrawn in place on a terminal; without one, one
 * logfmt line per event; --json, the events as JSON lines.
 */
export async function runSweepWatch(o: SweepWatchOptions): Promise<WatchOutcome> {
  if (o.signal?.aborted) return 'stopped';
  const view = new SweepView(o.sweep);
  const untilFinished = o.untilFinished ?? true;
  const width = (): number => (o.width ?? ((o.out as { columns?: number }).columns || 100)) - 1;
  let previousLines = 0;
  const draw = (): void => {
    const text = renderSweepView(view.snapshot(), width());
    o.out.write(`${previousLines > 0 ? `\x1b[${previousLines}F\x1b[J` : ''}${text}\n`);
    previousLines = text.split('\n').length;
  };
  const live = o.isTTY && !o.json;

  let outcome: WatchOutcome | null = null;
  let settle: (x: WatchOutcome) => void = () => {};
  const done = new Promise<WatchOutcome>((resolve) => (settle = resolve));
  const end = (x: WatchOutcome): void => {
    if (outcome !== null) return;
    outcome = x;
    settle(x);
  };
  const handler = (event: FleetEvent): void => {
    if (outcome !== null) return;
    view.apply(event);
    if (o.json) o.out.write(renderJsonLine(event));
    else if (!live) o.out.write(renderSweepEventLine(event));
    if (event.type === 'sweep.finished' && untilFinished) end((event as FleetEvent<'sweep.finished'>).data.status);
  };
  const onAbort = (): void => end('stopped');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (live) draw();
  const timer = live ? setInterval(draw, o.refreshMs ?? 500) : null;
  const subscribing = (async () => o.follow(o.sweep, handler, { from: o.from ?? 'start' }))();
  let subscription: { stop(): Promise<void> } | null = null;
  try {
    await Promise.race([
      subscribing.then((s) => {
        subscription = s;
      }),
      done,
    ]);
    return await done;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (timer !== null) clearInterval(timer);
    if (live) draw();
    if (subscription !== null) await (subscription as { stop(): Promise<void> }).stop();
    else subscribing.then((s) => s.stop()).catch(() => {});
  }
}
