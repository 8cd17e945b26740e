/**
 * docs/benchmarks.md from docs/benchmarks.json: a pure function, so the
 * page says exactly what the file holds. Every figure shows mean +- std
 * with n, its ratio to the reference measured in the same run, whether its
 * goal was met and by how much, what limits it, and the command.
 */
import type { BenchmarksFile, BenchSection, MachineInfo, RunInfo } from './benchmarks-file.js';
import type { Figure } from './figures.js';

/** What a benchmark measures and its knobs, for the table at the top. */
export interface CatalogEntry {
  name: string;
  measures: string;
  /** The environment knobs with their defaults, as markdown. */
  knobs: string;
}

/** A number with about three significant digits, without exponents for everyday sizes. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 1e6 || a < 1e-3) return x.toExponential(2);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** "12.3 +- 0.4 ms (n=5)"; n=1 has no spread to show. */
export function formatMeanStd(f: Pick<Figure, 'mean' | 'std' | 'n' | 'unit'>): string {
  const unit = f.unit ? ` ${f.unit}` : '';
  return f.n > 1 ? `${formatNumber(f.mean)} +- ${formatNumber(f.std)}${unit} (n=${f.n})` : `${formatNumber(f.mean)}${unit} (n=1)`;
}

/** "met by 0.03" or "**missed** by 0.04", for the goal's quantity (the mean or the ratio). */
export function formatGoal(f: Figure): string {
  const goal = f.goal;
  if (!goal) return '-';
  const value = goal.of === 'ratio' ? f.reference?.ratio : f.mean;
  const what = `${goal.of} ${goal.op} ${formatNumber(goal.value)}`;
  if (value === undefined || !Number.isFinite(value)) return `${what}: not measured`;
  const margin = goal.op === '>=' ? value - goal.value : goal.value - value;
  const by = formatNumber(Math.abs(margin));
  return margin >= 0 ? `${what}: met by ${by}` : `${what}: **missed** by ${by}`;
}

function formatReference(f: Figure): string {
  const r = f.reference;
  if (!r) return '-';
  return `${formatNumber(r.ratio)} of ${r.name} (${formatNumber(r.mean)}${f.unit ? ` ${f.unit}` : ''})`;
}

/** Markdown table cells may not hold a bare pipe or a newline. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function formatLoad(xs: readonly number[]): string {
  return xs.map((x) => x.toFixed(2)).join(' ');
}

function formatMachine(m: MachineInfo): string {
  // 0: not recorded (a run carried from before the file existed).
  const memory = m.memoryGb > 0 ? `, ${formatNumber(m.memoryGb)} GB` : '';
  return `${m.cpu}, ${m.cores} cores${memory}, node ${m.node}, backends ${m.backends.join(' and ')}`;
}

function formatDate(iso: string): string {
  return iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
    .replace(/Z$/, ' UTC');
}

function formatMinutes(seconds: number): string {
  return seconds >= 120 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(0)} s`;
}

/** The section's anchor as GitHub makes it from "## name". */
export function anchorOf(bench: string): string {
  return bench
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');
}

function renderRun(title: string, run: RunInfo): string[] {
  return [
    `${title}: ${formatDate(run.date)} at ${run.commit}, \`${run.command}\`, ${formatMinutes(run.wallSeconds)} wall; ` +
      `load average (1, 5, 15 min) ${formatLoad(run.loadStart)} at the start, ${formatLoad(run.loadEnd)} at the end; ${formatMachine(run.machine)}.`,
  ];
}

function renderSection(s: BenchSection, entry: CatalogEntry | undefined): string[] {
  const out = [`## ${s.bench}`, ''];
  if (entry) out.push(`What it measures: ${entry.measures}`, '');
  if (s.separate) {
    out.push(
      `Not measured by \`npm run bench\` (too long for it): carried in docs/benchmarks.json from the run below, with its own date and commit.`,
      '',
    );
  }
  out.push(
    `Measured ${formatDate(s.date)} at ${s.commit}${s.separate ? '' : `, ${formatMinutes(s.wallSeconds)} wall, load average ${s.loadStart.toFixed(2)} at the start and ${s.loadEnd.toFixed(2)} at the end`}; ${formatMachine(s.machine)}.`,
    '',
    `Command: \`${s.command}\``,
    '',
  );
  if (s.error) out.push(`**The benchmark failed**: ${s.error}. The figures below are those it recorded before.`, '');
  if (s.figures.length === 0) {
    out.push('No figures recorded.', '');
    return out;
  }
  out.push(
    '| figure | mean +- std (n) | against the reference measured in the same run | goal | what limits it |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const f of s.figures) {
    out.push(
      `| ${cell(f.name)} | ${cell(formatMeanStd(f))} | ${cell(formatReference(f))} | ${cell(formatGoal(f))} | ${cell(f.limits ?? '-')} |`,
    );
  }
  out.push('');
  const commands = [...new Set(s.figures.map((f) => f.command).filter((c) => c !== s.command))];
  if (commands.length > 0) out.push(`Figures measured by another command: ${commands.map((c) => `\`${c}\``).join('; ')}.`, '');
  return out;
}

/** The whole page. `catalog` orders the sections; sections it does not know come after, by name. */
export function renderBenchmarks(file: BenchmarksFile, catalog: readonly CatalogEntry[]): string {
  const known = new Set(catalog.map((c) => c.name));
  const order = [
    ...catalog.map((c) => c.name).filter((n) => file.sections[n]),
    ...Object.keys(file.sections)
      .filter((n) => !known.has(n))
      .sort(),
  ];
  const out: string[] = [
    '# fleet benchmarks',
    '',
    '<!-- Generated by `npm run bench` from docs/benchmarks.json (bench/render-benchmarks.ts): edits here are overwritten. -->',
    '',
    'Generated by `npm run bench` from [benchmarks.json](benchmarks.json); do not edit by hand. To regenerate one part,',
    '`FLEET_BENCH_ONLY=name[,name...] npm run bench`: it measures those benchmarks and rewrites their sections, keeping',
    'the others (each section carries its own date, commit and machine). Every figure is a mean +- sample std over n',
    'samples (n says what a sample is in its name); a ratio is against a reference measured side by side in the same run,',
    'never against a figure from another run. This machine is shared with other work: the load averages say how much.',
    '',
    'Older figures, their discussion and the one-off runs (training accuracy, earlier machines): [benchmark-history.md](benchmark-history.md).',
    '',
  ];
  if (file.lastFullRun) out.push(...renderRun('Last run of every benchmark', file.lastFullRun), '');
  if (file.lastRun && file.lastRun !== file.lastFullRun && file.lastRun.date !== file.lastFullRun?.date)
    out.push(...renderRun(`Last run (${file.lastRun.only?.join(', ') ?? 'all'})`, file.lastRun), '');
  out.push(
    '## The benchmarks',
    '',
    '| name | what it measures | knobs (default) | wall time | measured |',
    '| --- | --- | --- | --- | --- |',
  );
  let total = 0;
  for (const name of order) {
    const s = file.sections[name]!;
    const entry = catalog.find((c) => c.name === name);
    if (!s.separate) total += s.wallSeconds;
    out.push(
      `| [\`${name}\`](#${anchorOf(name)}) | ${cell(entry?.measures ?? `see bench/${name}.ts`)} | ${cell(entry?.knobs ?? '-')} | ${s.separate ? 'not in `npm run bench`' : formatMinutes(s.wallSeconds)} | ${formatDate(s.date).slice(0, 10)}, ${s.commit} |`,
    );
  }
  for (const entry of catalog) {
    if (!file.sections[entry.name])
      out.push(`| \`${entry.name}\` | ${cell(entry.measures)} | ${cell(entry.knobs)} | not measured yet | - |`);
  }
  out.push('', `The sections' wall times add up to ${formatMinutes(total)} (each measured in its own section's run).`, '');
  for (const name of order)
    out.push(
      ...renderSection(
        file.sections[name]!,
        catalog.find((c) => c.name === name),
      ),
    );
  return `${out.join('\n').trimEnd()}\n`;
}
