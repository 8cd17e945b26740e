import { join } from 'node:path';
import type { Logger } from '../../src/runtime/logger.js';
import { readMetricsLines, readSweepRecord, type SweepRecord, type TrialRecord } from '../../src/training/run-record/index.js';
import { percent } from '../../src/training/run-record/score-tables.js';
import { contributionBarsSpec } from './charts/contribution-bars.js';
import { paramEffectSpec } from './charts/param-effect.js';
import { trialCurvesSpec, type TrialCurve } from './charts/trial-curves.js';
import { renderChartPng } from './render-png.js';
import type { Block, ReportDocument } from './report-document.js';
import { exists, readRunFiles, type RunFiles } from './run-files.js';
import { runSections, runSummary, type RunReportOptions } from './run-report.js';
import { configurationResults, countedTrials, findAblation, paramsLabel, paramValueResults } from './sweep-summary.js';

/** A mean in percent, 2 decimals, ± its standard deviation when more than one run makes one. */
function pm(mean: number | null, std: number | null, n: number): string {
  if (mean === null) return '-';
  return n > 1 ? `${(mean * 100).toFixed(2)} ± ${((std ?? 0) * 100).toFixed(2)}` : (mean * 100).toFixed(2);
}

const signed = (points: number) => `${points >= 0 ? '+' : ''}${points.toFixed(2)}`;

/**
 * `fleet report SWEEP_DIR`: every trial's test-accuracy curve on one chart,
 * accuracy against each varied parameter, the results per configuration
 * (mean ± std over repeats), every trial, and for an ablation the
 * contribution of each technique in points.
 */
export async function sweepReport(dir: string, o: TrialPictureOptions, log: Logger): Promise<ReportDocument> {
  const record = await readSweepRecord(dir);
  const blocks: Block[] = [];
  const chart = async (file: string, alt: string, spec: Parameters<typeof renderChartPng>[0]) => {
    blocks.push({ kind: 'image', file, alt, png: await renderChartPng(spec) });
  };
  const configs = configurationResults(record);
  const best = configs.find((c) => c.mean !== null) ?? null;
  const repeats = Math.max(...configs.map((c) => c.trials.length), 0);

  if (record.description) blocks.push({ kind: 'paragraph', text: record.description });
  blocks.push({ kind: 'paragraph', text: overview(record, configs.length, repeats) });
  if (best) {
    blocks.push({
      kind: 'paragraph',
      text:
        `**Best configuration:** ${paramsLabel(best.params, record.varied)}: test accuracy ${pm(best.mean, best.std, best.values.length)} % ` +
        (best.values.length > 1 ? `(mean ± std of the best epoch over ${best.values.length} runs).` : '(the best epoch of its one run).'),
    });
  }

  blocks.push({ kind: 'heading', level: 2, text: 'Test-accuracy curves' });
  const curves = await trialCurves(dir, record, log);
  if (curves.some((c) => c.points.length > 0)) {
    await chart(
      'curves.png',
      'Test accuracy per epoch of every trial',
      trialCurvesSpec({ trials: curves, subtitle: `${record.name}: pruned trials dashed` }),
    );
  } else {
    blocks.push({ kind: 'paragraph', text: 'No trial has scored an epoch yet.' });
  }

  const ablation = findAblation(record);
  if (ablation) {
    blocks.push({ kind: 'heading', level: 2, text: 'Ablation: contribution of each technique' });
    blocks.push({
      kind: 'paragraph',
      text:
        `\`${ablation.param}\` names the technique each configuration goes without; \`${ablation.param}=${ablation.baselineValue}\` is the baseline with ` +
        `everything on: ${pm(ablation.baseline.mean, ablation.baseline.std, ablation.baseline.values.length)} % over ${ablation.baseline.values.length} run${ablation.baseline.values.length === 1 ? '' : 's'}. ` +
        "A technique's contribution is the baseline's mean test accuracy minus the mean without it, in percentage points " +
        '(positive: the technique helps).',
    });
    const withErr = ablation.contributions.some((c) => c.stderrPoints !== null);
    blocks.push({
      kind: 'table',
      header: ['technique removed', 'accuracy without it (%)', 'runs', 'contribution (points)', ...(withErr ? ['± std. error'] : [])],
      align: ['left', 'right', 'right', 'right', 'right'],
      rows: ablation.contributions.map((c) => [
        c.technique,
        pm(c.mean, c.std, c.values.length),
        String(c.values.length),
        signed(c.points),
        ...(withErr ? [c.stderrPoints === null ? '-' : c.stderrPoints.toFixed(2)] : []),
      ]),
    });
    await chart(
      'contributions.png',
      'Contribution of each technique in accuracy points',
      contributionBarsSpec({
        contributions: ablation.contributions,
        subtitle: `baseline ${pm(ablation.baseline.mean, ablation.baseline.std, ablation.baseline.values.length)} %`,
      }),
    );
  }

  if (record.varied.length > 0) blocks.push({ kind: 'heading', level: 2, text: 'Accuracy against each parameter' });
  for (const param of record.varied) {
    const values = paramValueResults(record, param);
    const points = countedOf(record).flatMap((t) =>
      t.params[param] === undefined
        ? []
        : [
            {
              value: typeof t.params[param] === 'number' ? (t.params[param] as number) : String(t.params[param]),
              accuracy: t.best!.value,
              trial: t.id,
            },
          ],
    );
    if (points.length === 0) continue;
    blocks.push({ kind: 'heading', level: 3, text: param });
    await chart(
      `param-${fileSafe(param)}.png`,
      `Best test accuracy of each trial against ${param}, with the mean per value`,
      paramEffectSpec({ param, points, order: values.map((v) => (typeof v.value === 'number' ? v.value : String(v.value))) }),
    );
    blocks.push({
      kind: 'table',
      header: [param, 'test accuracy (%) mean ± std', 'runs', 'change from the previous value (points)'],
      align: ['left', 'right', 'right', 'right'],
      rows: values.map((v) => [
        String(v.value),
        pm(v.mean, v.std, v.values.length),
        String(v.values.length),
        v.changePoints === null ? '-' : signed(v.changePoints),
      ]),
    });
  }

  blocks.push({ kind: 'heading', level: 2, text: 'Results by configuration' });
  blocks.push({
    kind: 'paragraph',
    text:
      'Best-epoch test accuracy, mean ± sample standard deviation over the repeats (seeds), best first. ' +
      'Finished trials count; a configuration whose trials were all pruned shows their best values instead.',
  });
  blocks.push({
    kind: 'table',
    header: ['rank', ...record.varied, 'test accuracy (%)', 'runs', 'best run (%)', 'trials'],
    align: ['right', ...record.varied.map(() => 'left' as const), 'right', 'right', 'right', 'left'],
    rows: configs.map((c, i) => [
      String(i + 1),
      ...record.varied.map((k) => (c.params[k] === undefined ? '-' : String(c.params[k]))),
      pm(c.mean, c.std, c.values.length),
      String(c.values.length),
      c.values.length > 0 ? (Math.max(...c.values) * 100).toFixed(2) : '-',
      Object.entries(c.statusCounts)
        .map(([s, n]) => `${n} ${s}`)
        .join(', '),
    ]),
  });

  blocks.push(...(await bestTrialSection(dir, record, o, log)));
  blocks.push(...(await mixingSection(dir, record, o, log)));

  blocks.push({ kind: 'heading', level: 2, text: 'Trials' });
  blocks.push({
    kind: 'table',
    header: ['trial', ...record.varied, 'seed', 'status', 'epochs', 'best (%)', 'best epoch', 'note'],
    align: ['left', ...record.varied.map(() => 'left' as const), 'right', 'left', 'right', 'right', 'right', 'left'],
    rows: record.trials.map((t) => [
      t.id,
      ...record.varied.map((k) => (t.params[k] === undefined ? '-' : String(t.params[k]))),
      String(t.seed),
      t.status,
      String(t.epochsRun),
      t.best ? (t.best.value * 100).toFixed(2) : '-',
      t.best ? String(t.best.epoch) : '-',
      t.prunedAt ? `pruned at epoch ${t.prunedAt.epoch} (${t.prunedAt.rule}): ${t.prunedAt.reason}` : (t.error ?? ''),
    ]),
  });
  return { title: `Sweep report: ${record.name} (${record.sweepId})`, blocks };
}

/** What the pictures of a trial's images need: the data files and how to score its best model. */
export type TrialPictureOptions = Omit<RunReportOptions, 'runDir'>;

/** A trial's run directory as the run report reads it, or null when it holds no scored epoch (failed, pending). */
async function trialRun(dir: string, t: TrialRecord): Promise<RunFiles | null> {
  const runDir = join(dir, t.runDir);
  if (!(await exists(join(runDir, 'metrics.jsonl')))) return null;
  try {
    return await readRunFiles(runDir);
  } catch {
    return null;
  }
}

/**
 * The best trial's test-set pictures, as its run report has them: confusion
 * matrix, per-class accuracy, the most confused pairs, the weakest classes'
 * surest mistakes (a one-configuration sweep, exercise 1, is answered here).
 */
async function bestTrialSection(dir: string, record: SweepRecord, o: TrialPictureOptions, log: Logger): Promise<Block[]> {
  const ranked = record.trials.filter((t) => t.best !== null && t.status !== 'failed').sort((a, b) => b.best!.value - a.best!.value);
  for (const t of ranked) {
    const run = await trialRun(dir, t);
    if (!run) continue;
    return [
      { kind: 'heading', level: 2, text: `The best trial: ${t.id} (${paramsLabel(t.params, record.varied)})` },
      {
        kind: 'paragraph',
        text: `${runSummary(run)} Its whole report: \`fleet report ${join(dir, t.runDir)}\`.`,
      },
      ...(await runSections(run, o, log, { parts: ['scores', 'mistakes'], prefix: 'best-', level: 3 })),
    ];
  }
  return [];
}

/** For each configuration that mixes (Mixup or CutMix alpha above 0), 4 mixed training examples of its first trial. */
async function mixingSection(dir: string, record: SweepRecord, o: TrialPictureOptions, log: Logger): Promise<Block[]> {
  const blocks: Block[] = [];
  const seen = new Set<string>();
  for (const t of record.trials) {
    if (seen.has(t.configKey)) continue;
    const run = await trialRun(dir, t);
    const c = run?.config?.config;
    if (!run || !c || (c.mixupAlpha <= 0 && c.cutmixAlpha <= 0)) continue;
    seen.add(t.configKey);
    if (blocks.length === 0) blocks.push({ kind: 'heading', level: 2, text: 'Mixup and CutMix examples' });
    blocks.push({ kind: 'heading', level: 3, text: `${t.id}: ${paramsLabel(t.params, record.varied)}` });
    const mix = await runSections(run, o, log, { parts: ['mix'], prefix: `${t.id}-`, level: 3 });
    // The run report's own heading for the part: this one names the trial instead.
    blocks.push(...mix.filter((b) => b.kind !== 'heading'));
  }
  return blocks;
}

function overview(record: SweepRecord, configurations: number, repeats: number): string {
  const counts: Record<string, number> = {};
  for (const t of record.trials) counts[t.status] = (counts[t.status] ?? 0) + 1;
  const status = Object.entries(counts)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const pruning =
    record.pruning.rule === 'none'
      ? 'no pruning'
      : `${record.pruning.rule} pruning (grace period ${record.pruning.gracePeriod} epoch${record.pruning.gracePeriod === 1 ? '' : 's'}${record.pruning.rule === 'asha' ? `, reduction factor ${record.pruning.reductionFactor}` : ''})`;
  const bestTrial = record.trials.filter((t) => t.best).sort((a, b) => b.best!.value - a.best!.value)[0];
  return (
    `Sweep \`${record.sweepId}\` from \`${record.specFile}\`${record.scale ? ` at scale \`${record.scale}\`` : ''}: ` +
    `${record.trials.length} trials (${status}) over ${configurations} configuration${configurations === 1 ? '' : 's'}` +
    `${repeats > 1 ? ` of up to ${repeats} seeds each` : ''}, varying ${record.varied.map((k) => `\`${k}\``).join(', ') || 'nothing'}; ${pruning}. ` +
    `Status: ${record.status}${record.finishedAt ? `, finished ${record.finishedAt}` : ''}. ` +
    (bestTrial ? `Best single trial: ${bestTrial.id} at ${percent(bestTrial.best!.value)} (epoch ${bestTrial.best!.epoch}).` : '')
  );
}

function countedOf(record: SweepRecord): TrialRecord[] {
  const groups = new Map<string, TrialRecord[]>();
  for (const t of record.trials) groups.set(t.configKey, [...(groups.get(t.configKey) ?? []), t]);
  return [...groups.values()].flatMap(countedTrials);
}

/** Each trial's test accuracy per epoch: its run's metrics.jsonl when readable, else the curve sweep.json keeps. */
async function trialCurves(dir: string, record: SweepRecord, log: Logger): Promise<TrialCurve[]> {
  const repeated = new Set(record.trials.map((t) => t.configKey)).size < record.trials.length;
  return Promise.all(
    record.trials.map(async (t) => {
      let points = t.curve;
      const runDir = join(dir, t.runDir);
      if (await exists(join(runDir, 'metrics.jsonl'))) {
        try {
          points = (await readMetricsLines(runDir)).map((l) => ({ epoch: l.epoch, value: l.testAccuracy }));
        } catch (err) {
          log.warn({ trial: t.id, err: (err as Error).message }, "report: a trial's metrics.jsonl is unreadable; using sweep.json's curve");
        }
      }
      const label = `${t.id}: ${paramsLabel(t.params, record.varied)}${repeated ? ` (seed ${t.seed})` : ''}`;
      return { label, status: t.status, points };
    }),
  );
}

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, '-');
}
