import type { FleetEvent } from '../../src/events/event-payloads.js';
import { asTyped } from '../../src/events/run-view.js';
import { SweepView } from '../../src/events/sweep-table.js';
import type { SweepDetail, SweepSummary } from './api-types.js';
import { SeenEvents } from './seen-events.js';

/**
 * A sweep's events folded into its trial table (fleet watch's SweepView) and
 * each trial's curve of the metric by epoch, for the chart of all trials (pure).
 */
export class SweepBoard {
  private readonly view: SweepView;
  private readonly seen = new SeenEvents();
  private readonly curves = new Map<string, Map<number, number>>();
  private started: string | null = null;

  constructor(readonly id: string) {
    this.view = new SweepView(id);
  }

  apply(event: FleetEvent): void {
    if (event.run !== this.id) return;
    if (!this.seen.first(event)) return;
    this.view.apply(event);
    const e = asTyped(event);
    if (e.type === 'sweep.started') this.started ??= e.time;
    if (e.type === 'trial.epoch') {
      const curve = this.curves.get(e.data.trial) ?? new Map<number, number>();
      curve.set(e.data.epoch, e.data.value);
      this.curves.set(e.data.trial, curve);
    }
  }

  summary(): SweepSummary {
    const s = this.view.snapshot();
    return {
      id: this.id,
      source: 'events',
      name: s.name,
      metric: s.metric,
      status: s.finished?.status ?? 'running',
      trials: s.trials.length,
      best: s.finished?.best ?? bestOf(s.trials),
      started: this.started,
    };
  }

  detail(): SweepDetail {
    const s = this.view.snapshot();
    return {
      summary: this.summary(),
      pruning: s.pruning,
      trials: s.trials.map((t) => ({
        trial: t.trial,
        params: t.params,
        status: t.status,
        epoch: t.epoch,
        best: t.best,
        pruned: t.prunedAt,
        reason: t.reason,
        curve: [...(this.curves.get(t.trial) ?? new Map<number, number>())]
          .sort((a, b) => a[0] - b[0])
          .map(([epoch, value]) => ({ epoch, value })),
      })),
    };
  }
}

function bestOf(trials: readonly { trial: string; best: number | null }[]): { trial: string; value: number } | null {
  let best: { trial: string; value: number } | null = null;
  for (const t of trials) if (t.best !== null && (best === null || t.best > best.value)) best = { trial: t.trial, value: t.best };
  return best;
}
