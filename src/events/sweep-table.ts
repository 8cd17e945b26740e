import type { FleetEvent } from './event-payloads.js';
import { asTyped } from './run-view.js';

/**
 * A sweep's events (services/sweep) folded into its trial table (pure: no
 * clock, no I/O): `fleet watch --sweep ID` draws it as text, `fleet
 * dashboard` as a web page.
 */

export type TrialStatus = 'pending' | 'running' | 'finished' | 'pruned' | 'failed';

export interface TrialRow {
  trial: string;
  params: Record<string, string | number | boolean>;
  status: TrialStatus;
  /** The last epoch the trial reported. */
  epoch: number | null;
  best: number | null;
  prunedAt: { epoch: number; rule: string; reason: string } | null;
  /** A failed trial's last error line. */
  reason: string | null;
}

export interface SweepSnapshot {
  sweep: string | null;
  name: string | null;
  metric: string | null;
  pruning: string | null;
  parallel: number | null;
  trials: TrialRow[];
  finished: { status: 'finished' | 'failed'; best: { trial: string; value: number } | null } | null;
  events: number;
}

export class SweepView {
  private readonly rows = new Map<string, TrialRow>();
  private readonly lastSeq = new Map<string, number>();
  private name: string | null = null;
  private metric: string | null = null;
  private pruning: string | null = null;
  private parallel: number | null = null;
  private finished: SweepSnapshot['finished'] = null;
  private events = 0;

  constructor(private readonly sweep: string) {}

  apply(event: FleetEvent): void {
    if (event.run !== this.sweep) return;
    const seen = this.lastSeq.get(event.source);
    if (seen !== undefined && event.seq <= seen) return;
    this.lastSeq.set(event.source, event.seq);
    this.events++;
    const e = asTyped(event);
    switch (e.type) {
      case 'sweep.started': {
        const d = e.data;
        this.name = d.name;
        this.metric = d.metric;
        this.pruning = d.pruning;
        this.parallel = d.parallel;
        this.finished = null;
        // The driver's record is the truth (a resumed sweep says what has ended meanwhile); what the rows know beyond it stays.
        for (const t of d.trials) {
          const row = this.row(t.trial);
          row.params = t.params;
          row.status = t.status;
        }
        break;
      }
      case 'trial.started': {
        const row = this.row(e.data.trial);
        row.params = e.data.params;
        row.status = 'running';
        row.reason = null;
        break;
      }
      case 'trial.epoch': {
        const row = this.row(e.data.trial);
        row.epoch = e.data.epoch;
        row.best = e.data.best;
        break;
      }
      case 'trial.finished': {
        const row = this.row(e.data.trial);
        row.status = e.data.status;
        row.best = e.data.best;
        row.epoch = e.data.epochs > 0 ? e.data.epochs : row.epoch;
        row.reason = e.data.reason;
        break;
      }
      case 'trial.pruned': {
        const row = this.row(e.data.trial);
        row.status = 'pruned';
        row.prunedAt = { epoch: e.data.epoch, rule: e.data.rule, reason: e.data.reason };
        if (e.data.best !== null) row.best = e.data.best;
        break;
      }
      case 'sweep.finished':
        this.finished = { status: e.data.status, best: e.data.best };
        break;
      default:
        // A run's events (a trial run under the sweep's id would be a misuse): nothing for the table.
        break;
    }
  }

  snapshot(): SweepSnapshot {
    return {
      sweep: this.sweep,
      name: this.name,
      metric: this.metric,
      pruning: this.pruning,
      parallel: this.parallel,
      trials: [...this.rows.values()].sort((a, b) => a.trial.localeCompare(b.trial, 'en', { numeric: true })).map((r) => ({ ...r })),
      finished: this.finished,
      events: this.events,
    };
  }

  private row(trial: string): TrialRow {
    let row = this.rows.get(trial);
    if (!row) {
      row = { trial, params: {}, status: 'pending', epoch: null, best: null, prunedAt: null, reason: null };
      this.rows.set(trial, row);
    }
    return row;
  }
}
