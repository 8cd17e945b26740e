import { ABLATION_PARAM, ABLATION_REFERENCE, type SweepRecord, type TrialRecord } from '../../src/training/run-record/index.js';

type ParamValue = string | number | boolean;

/** One configuration of a sweep: its repeats (trials with the same configKey) and their scores. */
export interface ConfigurationResult {
  configKey: string;
  params: Record<string, ParamValue>;
  trials: TrialRecord[];
  /** The best metric value of each trial that counts (see countedTrials), fractions. */
  values: number[];
  mean: number | null;
  /** Sample standard deviation over the repeats (n - 1); 0 for one repeat. */
  std: number | null;
  statusCounts: Record<string, number>;
}

/** Mean and sample standard deviation; null for no values. */
export function meanStd(values: readonly number[]): { mean: number | null; std: number | null } {
  if (values.length === 0) return { mean: null, std: null };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length === 1) return { mean, std: 0 };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, std: Math.sqrt(variance) };
}

/**
 * The trials whose best value stands for their configuration: the finished
 * ones when any finished (a pruned trial stopped early and would pull the
 * mean down for a reason that is not the configuration's final accuracy),
 * else every trial with a value.
 */
export function countedTrials(trials: readonly TrialRecord[]): TrialRecord[] {
  const finished = trials.filter((t) => t.status === 'finished' && t.best !== null);
  return finished.length > 0 ? finished : trials.filter((t) => t.best !== null && t.status !== 'failed');
}

/** `augment=full, lr=0.1`: a configuration's params, in the sweep's varied order. */
export function paramsLabel(params: Record<string, ParamValue>, varied: readonly string[]): string {
  const keys = [...varied.filter((k) => k in params), ...Object.keys(params).filter((k) => !varied.includes(k))];
  return keys.length === 0 ? '(base)' : keys.map((k) => `${k}=${params[k]}`).join(', ');
}

/** Configurations, best mean first (those without a value last, in expansion order). */
export function configurationResults(record: SweepRecord): ConfigurationResult[] {
  const groups = new Map<string, TrialRecord[]>();
  for (const t of record.trials) groups.set(t.configKey, [...(groups.get(t.configKey) ?? []), t]);
  const results = [...groups.entries()].map(([configKey, trials]) => {
    const values = countedTrials(trials).map((t) => t.best!.value);
    const statusCounts: Record<string, number> = {};
    for (const t of trials) statusCounts[t.status] = (statusCounts[t.status] ?? 0) + 1;
    return { configKey, params: trials[0]!.params, trials, values, ...meanStd(values), statusCounts };
  });
  return results
    .map((r, order) => ({ r, order }))
    .sort((a, b) => (b.r.mean ?? -1) - (a.r.mean ?? -1) || a.order - b.order)
    .map(({ r }) => r);
}

export interface ParamValueResult {
  value: ParamValue;
  values: number[];
  mean: number | null;
  std: number | null;
  /** This value's mean minus the previous value's, in accuracy points (null for the first). */
  changePoints: number | null;
}

/**
 * The values one varied parameter took, in order (numbers ascending, others
 * as the trials first met them), each with the mean and std of the counted
 * trials having it, and the change from the previous value in points.
 */
export function paramValueResults(record: SweepRecord, param: string): ParamValueResult[] {
  const seen: ParamValue[] = [];
  for (const t of record.trials) {
    const v = t.params[param];
    if (v !== undefined && !seen.includes(v)) seen.push(v);
  }
  if (seen.every((v) => typeof v === 'number')) (seen as number[]).sort((a, b) => a - b);
  const groups = new Map<string, TrialRecord[]>();
  for (const t of record.trials) groups.set(t.configKey, [...(groups.get(t.configKey) ?? []), t]);
  const counted = [...groups.values()].flatMap(countedTrials);
  let previous: number | null = null;
  return seen.map((value) => {
    const values = counted.filter((t) => t.params[param] === value).map((t) => t.best!.value);
    const { mean, std } = meanStd(values);
    const changePoints = previous !== null && mean !== null ? (mean - previous) * 100 : null;
    if (mean !== null) previous = mean;
    return { value, values, mean, std, changePoints };
  });
}

/** Other names of a varied key that says its values are techniques switched off (a spec's own parameter). */
const ABLATION_KEY = /^(ablat\w*|without|remove[ds]?|drop(ped)?|disable[ds]?|off|minus|no)$/i;
/** The value of that key that switches nothing off: the baseline with everything on. */
const BASELINE_VALUES = [ABLATION_REFERENCE, 'nothing', 'baseline', 'all', 'all-on', ''];

export interface Ablation {
  /** The varied key naming the technique switched off. */
  param: string;
  baselineValue: ParamValue;
  baseline: { values: number[]; mean: number; std: number };
  /** One per technique: baseline mean minus the mean without it, in accuracy points, largest first. */
  contributions: {
    technique: string;
    values: number[];
    mean: number;
    std: number;
    points: number;
    /** Standard error of the difference in points (sqrt(sb^2/nb + sx^2/nx)); null with a single run on either side. */
    stderrPoints: number | null;
  }[];
}

/**
 * An ablation, when the sweep is one: a spec's `ablation:` (trial param
 * `without`, its reference `none`), or a varied key named for switching
 * techniques off (`ablate`, `remove`, `disable`...) whose values name the
 * technique each trial goes without, one of them (`none`, `baseline`,
 * `all`...) the baseline with everything on. The contribution of a
 * technique is what the baseline loses without it.
 */
export function findAblation(record: SweepRecord): Ablation | null {
  const param = record.varied.find((k) => k === ABLATION_PARAM) ?? record.varied.find((k) => ABLATION_KEY.test(k));
  if (param === undefined) return null;
  const results = paramValueResults(record, param);
  const base = results.find((r) => r.value === false || BASELINE_VALUES.includes(String(r.value).toLowerCase()));
  if (!base || base.mean === null) return null;
  const baseStd = base.std ?? 0;
  const contributions = results
    .filter((r) => r !== base && r.mean !== null)
    .map((r) => ({
      technique: String(r.value),
      values: r.values,
      mean: r.mean!,
      std: r.std ?? 0,
      points: (base.mean! - r.mean!) * 100,
      stderrPoints:
        base.values.length > 1 && r.values.length > 1
          ? Math.sqrt(baseStd ** 2 / base.values.length + (r.std ?? 0) ** 2 / r.values.length) * 100
          : null,
    }))
    .sort((a, b) => b.points - a.points);
  return { param, baselineValue: base.value, baseline: { values: base.values, mean: base.mean, std: baseStd }, contributions };
}
