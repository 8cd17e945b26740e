import type { FleetEvent } from '../../src/events/event-payloads.js';
import { asTyped } from './watch-state.js';
import { logfmtValue } from './watch-render.js';

/**
 * `fleet watch --sweep ID`: a sweep's events (services/sweep) folded into
 * its trial table (pure: no clock, no I/O), and that table as text.
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

/** The table for a terminal: a header line, one row per trial, and the outcome; every line cut to `width`. */
export function renderSweepView(s: SweepSnapshot, width: number): string {
  const lines: string[] = [];
  const counts = countStatuses(s.trials);
  const head = [`sweep ${s.sweep ?? '?'}`];
  if (s.name === null) head.push('waiting for sweep.started');
  else {
    head.push(`${s.name}`, `metric ${s.metric}`, `pruning ${s.pruning}`, `parallel ${s.parallel}`);
    head.push(
      ['running', 'pending', 'finished', 'pruned', 'failed']
        .filter((k) => counts[k as TrialStatus] > 0)
        .map((k) => `${counts[k as TrialStatus]} ${k}`)
        .join(', '),
    );
  }
  lines.push(head.join('  '));
  if (s.trials.length > 0) {
    const table = [
      ['trial', 'params', 'status', 'epoch', 'best', 'pruned at / failure'],
      ...s.trials.map((t) => [
        t.trial,
        paramsText(t.params),
        t.status,
        t.epoch === null ? '-' : String(t.epoch),
        t.best === null ? '-' : percent(t.best),
        t.prunedAt === null
          ? t.status === 'failed' && t.reason
            ? `failed: ${t.reason}`
            : ''
          : `epoch ${t.prunedAt.epoch} (${t.prunedAt.rule})`,
      ]),
    ];
    const widths = table[0]!.map((_, c) => Math.min(c === 1 ? 40 : 200, Math.max(...table.map((r) => r[c]!.length))));
    for (const row of table) {
      lines.push(
        `  ${row
          .map((cell, c) =>
            c === row.length - 1 ? cell : cell.length > widths[c]! ? `${cell.slice(0, widths[c]! - 1)}~` : cell.padEnd(widths[c]!),
          )
          .join('  ')
          .trimEnd()}`,
      );
    }
  }
  if (s.finished !== null) {
    const best = s.finished.best;
    const bestRow = best ? s.trials.find((t) => t.trial === best.trial) : undefined;
    lines.push(
      `${s.finished.status}${best ? `: best ${best.trial} ${percent(best.value)}${bestRow ? ` (${paramsText(bestRow.params)})` : ''}` : ''}`,
    );
  }
  const w = Math.max(20, Math.floor(width));
  return lines.map((l) => (l.length > w ? l.slice(0, w) : l)).join('\n');
}

/**
 * One sweep event as one logfmt line (with its newline), for logs and pipes:
 * `time sweep type`, the payload's scalar fields, params as one `k=v ...`
 * text, sweep.started's trials as a count; `source` last.
 */
export function renderSweepEventLine(event: FleetEvent): string {
  const fields: [string, unknown][] = [
    ['time', event.time],
    ['sweep', event.run],
    ['type', event.type],
  ];
  for (const [key, value] of Object.entries(event.data as Record<string, unknown>)) {
    if (key === 'params' && value !== null && typeof value === 'object') fields.push([key, paramsText(value as TrialRow['params'])]);
    else if (key === 'trials' && Array.isArray(value)) fields.push([key, value.length]);
    else if (key === 'best' && value !== null && typeof value === 'object') {
      const b = value as { trial: string; value: number };
      fields.push(['bestTrial', b.trial], ['best', b.value]);
    } else if (key === 'varied' && Array.isArray(value)) fields.push([key, value.join(',')]);
    else fields.push([key, value]);
  }
  fields.push(['source', event.source]);
  const pairs = fields.flatMap(([key, value]) => {
    const text = logfmtValue(value);
    return text === null ? [] : [`${key}=${text}`];
  });
  return `${pairs.join(' ')}\n`;
}

function countStatuses(rows: readonly TrialRow[]): Record<TrialStatus, number> {
  const out: Record<TrialStatus, number> = { pending: 0, running: 0, finished: 0, pruned: 0, failed: 0 };
  for (const r of rows) out[r.status]++;
  return out;
}

function paramsText(params: TrialRow['params']): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`;
}
