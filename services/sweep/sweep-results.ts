import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { writeFileAtomic } from '../../src/runtime/atomic-file.js';
import { FleetError } from '../../src/runtime/errors.js';
import { TRIAL_STATUSES, type SweepRecord, type TrialRecord, type TrialStatus } from '../../src/training/run-record/sweep-record.js';
import { configYaml } from './search-space.js';
import type { TrainValues } from './sweep-spec.js';

export const RESULTS_CSV = 'results.csv';
export const RESULTS_MD = 'results.md';
export const BEST_YAML = 'best.yaml';

/** One configuration (its repeats together). */
export interface ConfigurationSummary {
  configKey: string;
  params: TrialRecord['params'];
  /** Its trials, by repeat. */
  trials: TrialRecord[];
  /** The finished trials' best values: what mean and std are over (pruned and failed trials stopped early). */
  values: number[];
  mean: number | null;
  /** Sample standard deviation (n - 1); null below two values. */
  std: number | null;
  counts: Record<TrialStatus, number>;
}

/** A results file that cannot be made from the sweep directory. */
export class SweepResultsError extends FleetError {}

/**
 * SWEEP_DIR/results.csv, results.md and best.yaml (the best configuration's
 * trials/<id>.yaml, the `fleet train --config` file its trial ran with, under
 * a comment naming the sweep and the score), each replaced atomically.
 * best.yaml is written once a configuration has a finished trial.
 */
export async function writeSweepResults(dir: string, record: SweepRecord): Promise<void> {
  const summaries = summarizeConfigurations(record);
  await writeFileAtomic(join(dir, RESULTS_CSV), resultsCsv(record));
  await writeFileAtomic(join(dir, RESULTS_MD), resultsMarkdown(record, summaries));
  const best = summaries[0];
  if (best?.mean == null) return;
  const trial = best.trials.find((t) => t.status === 'finished')!;
  const source = join(dir, 'trials', `${trial.id}.yaml`);
  let config: TrainValues;
  try {
    config = parseYaml(await readFile(source, 'utf8')) as TrainValues;
  } catch (err) {
    throw new SweepResultsError(`${source}: cannot make ${BEST_YAML} from it (${(err as Error).message})`, { cause: err });
  }
  await writeFileAtomic(join(dir, BEST_YAML), bestYaml(record, best, trial, config));
}

/** Configurations in first-trial order, then sorted by mean metric (highest first); those without a finished trial last. */
export function summarizeConfigurations(record: SweepRecord): ConfigurationSummary[] {
  const byKey = new Map<string, TrialRecord[]>();
  for (const t of record.trials) byKey.set(t.configKey, [...(byKey.get(t.configKey) ?? []), t]);
  const summaries = [...byKey.entries()].map(([configKey, trials]): ConfigurationSummary => {
    const sorted = [...trials].sort((a, b) => a.repeat - b.repeat);
    const values = sorted.flatMap((t) => (t.status === 'finished' && t.best ? [t.best.value] : []));
    const counts = Object.fromEntries(TRIAL_STATUSES.map((s) => [s, trials.filter((t) => t.status === s).length])) as Record<
      TrialStatus,
      number
    >;
    return { configKey, params: sorted[0]!.params, trials: sorted, values, mean: meanOf(values), std: sampleStd(values), counts };
  });
  // Array.sort is stable: equal means keep expansion order.
  return summaries.sort((a, b) => (b.mean ?? Number.NEGATIVE_INFINITY) - (a.mean ?? Number.NEGATIVE_INFINITY));
}

export function meanOf(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** The sample standard deviation (divides by n - 1): the spread of repeats as an estimate, not of these n alone. */
export function sampleStd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const m = meanOf(values)!;
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

/** One row per trial: id, the varied params, seed, status, epochs run, best value and its epoch (empty when none). */
export function resultsCsv(record: SweepRecord): string {
  const header = ['id', ...record.varied, 'seed', 'status', 'epochs', 'best', 'bestEpoch'];
  const rows = record.trials.map((t) => [
    t.id,
    ...record.varied.map((k) => t.params[k] ?? ''),
    t.seed,
    t.status,
    t.epochsRun,
    t.best?.value ?? '',
    t.best?.epoch ?? '',
  ]);
  return [header, ...rows]
    .map((row) => row.map(csvField).join(','))
    .join('\n')
    .concat('\n');
}

function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The configurations sorted by the metric (mean +- std over repeats, n, status counts), then every trial. */
export function resultsMarkdown(record: SweepRecord, summaries = summarizeConfigurations(record)): string {
  const lines: string[] = [`# Sweep ${record.name} (${record.sweepId})`, ''];
  if (record.description) lines.push(record.description.trim(), '');
  const counts = statusCounts(record.trials.map((t) => t.status));
  const pruning =
    record.pruning.rule === 'none'
      ? 'none'
      : record.pruning.rule === 'asha'
        ? `asha (grace period ${record.pruning.gracePeriod}, reduction factor ${record.pruning.reductionFactor})`
        : `median (from epoch ${record.pruning.gracePeriod})`;
  lines.push(
    `- spec: ${record.specFile}${record.scale ? ` (scale ${record.scale})` : ''}`,
    `- metric: ${record.metric}, each trial's best epoch, maximised; mean ± sample std over the finished repeats (n)`,
    `- pruning: ${pruning}`,
    `- status: ${record.status}${record.finishedAt ? ` (${record.startedAt} to ${record.finishedAt})` : ` (since ${record.startedAt})`}; trials: ${counts}`,
    '',
    '## Configurations',
    '',
  );
  const paramHeads = record.varied.map(escapeCell);
  lines.push(
    tableRow(['rank', ...paramHeads, `${record.metric} (%)`, 'n', 'trials']),
    tableRow(['---:', ...paramHeads.map(() => '---'), '---:', '---:', '---']),
  );
  summaries.forEach((s, i) => {
    lines.push(
      tableRow([
        s.mean === null ? '' : String(i + 1),
        ...record.varied.map((k) => cell(s.params[k])),
        s.mean === null ? '–' : s.std === null ? pct(s.mean) : `${pct(s.mean)} ± ${pct(s.std)}`,
        String(s.values.length),
        statusCounts(s.trials.map((t) => t.status)),
      ]),
    );
  });
  lines.push('', '## Trials', '');
  lines.push(
    tableRow(['trial', ...paramHeads, 'seed', 'status', 'epochs', `best ${record.metric} (%)`, 'best epoch', 'note']),
    tableRow(['---', ...paramHeads.map(() => '---'), '---:', '---', '---:', '---:', '---:', '---']),
  );
  for (const t of record.trials) {
    const note = t.prunedAt
      ? `pruned at epoch ${t.prunedAt.epoch} (${t.prunedAt.rule}): ${t.prunedAt.reason}`
      : t.error
        ? `error: ${t.error}`
        : '';
    lines.push(
      tableRow([
        t.id,
        ...record.varied.map((k) => cell(t.params[k])),
        String(t.seed),
        t.status,
        String(t.epochsRun),
        t.best ? pct(t.best.value) : '–',
        t.best ? String(t.best.epoch) : '–',
        escapeCell(note),
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

function bestYaml(record: SweepRecord, best: ConfigurationSummary, trial: TrialRecord, config: TrainValues): string {
  const score = best.std === null ? pct(best.mean!) : `${pct(best.mean!)} ± ${pct(best.std)}`;
  return configYaml(config, [
    `The best configuration of sweep ${record.sweepId} (${record.name}, ${record.specFile}${record.scale ? `, scale ${record.scale}` : ''}):`,
    `${JSON.stringify(best.params)}: ${record.metric} ${score} % over n=${best.values.length} finished repeat(s); this is trial ${trial.id}'s config (seed ${trial.seed}).`,
    'Rerun it: fleet train --config best.yaml',
  ]);
}

/** "2 finished, 1 pruned": the statuses present, in lifecycle order. */
function statusCounts(statuses: readonly TrialStatus[]): string {
  return TRIAL_STATUSES.flatMap((s) => {
    const n = statuses.filter((x) => x === s).length;
    return n > 0 ? [`${n} ${s}`] : [];
  }).join(', ');
}

function pct(value: number): string {
  return (value * 100).toFixed(2);
}

function cell(value: string | number | boolean | undefined): string {
  return value === undefined ? '' : escapeCell(String(value));
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function tableRow(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}
