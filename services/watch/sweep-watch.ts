import type { FleetEvent } from '../../src/events/event-payloads.js';
import { FleetError } from '../../src/runtime/errors.js';
import { frameWriter } from './frame-writer.js';
import { followUntilOutcome, type WatchOptions, type WatchOutcome } from './follow-until-outcome.js';
import { renderJsonLine } from './watch-render.js';
import { renderSweepEventLine, renderSweepView, SweepView } from './sweep-view.js';

/** The sweep watched ended with every trial failed: `fleet watch --sweep` exits 1, as the sweep did. */
export class WatchedSweepFailedError extends FleetError {
  constructor(readonly sweep: string) {
    super(`sweep ${sweep} failed: every trial failed (their reasons are in the table above and in SWEEP_DIR/trials/<id>.log)`);
  }
}

export interface SweepWatchOptions extends WatchOptions {
  sweep: string;
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
  const write = frameWriter(o.out);
  const draw = (): void => write(renderSweepView(view.snapshot(), width()));
  const live = o.isTTY && !o.json;

  if (live) draw();
  const timer = live ? setInterval(draw, o.refreshMs ?? 500) : null;
  return followUntilOutcome({
    follow: o.follow,
    key: o.sweep,
    from: o.from ?? 'start',
    signal: o.signal,
    onEvent: (event) => {
      view.apply(event);
      if (o.json) o.out.write(renderJsonLine(event));
      else if (!live) o.out.write(renderSweepEventLine(event));
      return event.type === 'sweep.finished' && untilFinished ? (event as FleetEvent<'sweep.finished'>).data.status : null;
    },
    onEnd: () => {
      if (timer !== null) clearInterval(timer);
      if (live) draw();
    },
  });
}
