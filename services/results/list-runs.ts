import type { RunRow } from '../../src/training/run-record/list-runs.js';

// Finding runs is shared with `fleet dashboard`, so it lives with the run record's readers.
export { listRuns, type RunRow, type RunStatus } from '../../src/training/run-record/list-runs.js';

/** The rows as an aligned table, a header first. */
export function formatRuns(rows: readonly RunRow[]): string {
  const table = [
    ['id', 'model', 'workers', 'epochs', 'best %', 'status', 'started', 'dir'],
    ...rows.map((r) => [
      r.id,
      r.model ?? '-',
      r.workers === null ? '-' : String(r.workers),
      `${r.epochsDone}/${r.epochsPlanned ?? '?'}`,
      r.bestAccuracy === null ? '-' : (r.bestAccuracy * 100).toFixed(2),
      r.status,
      r.started ? r.started.toISOString().replace('T', ' ').slice(0, 19) : '-',
      r.dir,
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return `${table
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
