import type { FleetEvent } from '../../src/events/event-payloads.js';
import type { SweepSnapshot, TrialRow, TrialStatus } from '../../src/events/sweep-table.js';
import { logfmtValue } from './watch-render.js';

export { SweepView, type SweepSnapshot, type TrialRow, type TrialStatus } from '../../src/events/sweep-table.js';

/**
 * `fleet watch --sweep ID`: a sweep's trial table (src/events/sweep-table.ts) as text.
 */

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
