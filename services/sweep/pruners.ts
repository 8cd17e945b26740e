import type { SweepRecord, TrialRecord } from '../../src/training/run-record/sweep-record.js';

/**
 * Early stopping of trials, as pure functions of the curves so far (the metric
 * is maximised). The driver asks after each epoch of a trial but its last;
 * a `continue: false` ends the trial cleanly with status `pruned`.
 */

export type CurvePoint = TrialRecord['curve'][number];
export type Curve = readonly CurvePoint[];
export type PruneDecision = { continue: true } | { continue: false; rule: 'asha' | 'median'; reason: string };
export type Pruning = SweepRecord['pruning'];

export interface Pruner {
  /**
   * `curve`: this trial's points so far (its last point is the epoch decided
   * on); `allCurves`: every trial's curve by id (this trial's entry, if any, is
   * ignored: `curve` is authoritative). Pure: the same inputs, the same answer.
   */
  decide(trialId: string, curve: Curve, allCurves: ReadonlyMap<string, Curve>): PruneDecision;
}

/** The median rule waits for this many other trials at the epoch: a median of fewer would stop on noise. */
export const MEDIAN_MIN_OTHERS = 2;

const CONTINUE: PruneDecision = { continue: true };

export function createPruner(pruning: Pruning): Pruner {
  switch (pruning.rule) {
    case 'asha':
      return { decide: (id, curve, all) => ashaDecide(id, curve, all, pruning) };
    case 'median':
      return { decide: (id, curve, all) => medianDecide(id, curve, all, pruning) };
    case 'none':
      return { decide: () => CONTINUE };
  }
}

/** ASHA's rungs: gracePeriod * reductionFactor^k epochs, k = 0, 1, 2... */
export function isRung(epoch: number, gracePeriod: number, reductionFactor: number): boolean {
  for (let r = gracePeriod; r <= epoch; r *= reductionFactor) if (r === epoch) return true;
  return false;
}

/**
 * ASHA, asynchronous successive halving (Li et al. 2018, "A System for
 * Massively Parallel Hyperparameter Tuning"), in its stopping form: trials are
 * not paused and promoted, they continue or stop at each rung.
 *
 * The rule: when a trial reaches a rung epoch e, the values recorded at e are
 * this trial's value at e and the value at e of every other trial whose curve
 * has reached e (so far). With n such values:
 *   - n < reductionFactor: it continues (too few results to cut: the paper's
 *     early trials are promoted as soon as the rung can rank them, and a
 *     trial that is not paused cannot wait for that);
 *   - otherwise it continues only if it ranks in the top floor(n / reductionFactor)
 *     (at least one; ties rank in the trial's favour), as the paper promotes
 *     the top 1/eta of a rung.
 * Other epochs: it continues.
 */
export function ashaDecide(trialId: string, curve: Curve, allCurves: ReadonlyMap<string, Curve>, pruning: Pruning): PruneDecision {
  const last = curve[curve.length - 1];
  if (!last || !isRung(last.epoch, pruning.gracePeriod, pruning.reductionFactor)) return CONTINUE;
  const others = otherTrials(trialId, allCurves).flatMap((c) => {
    const point = c.find((p) => p.epoch === last.epoch);
    return point ? [point.value] : [];
  });
  const n = others.length + 1;
  const eta = pruning.reductionFactor;
  if (n < eta) return CONTINUE;
  const keep = Math.max(1, Math.floor(n / eta));
  const rank = 1 + others.filter((v) => v > last.value).length;
  if (rank <= keep) return CONTINUE;
  return {
    continue: false,
    rule: 'asha',
    reason: `rung epoch ${last.epoch}: ${fmt(last.value)} ranks ${rank} of ${n}, only the top ${keep} (1/${eta}) continue`,
  };
}

/**
 * The median stopping rule (Golovin et al. 2017, "Google Vizier"): from epoch
 * gracePeriod on, at each epoch e a trial stops when its best value up to e is
 * strictly below the median of the other trials' running averages (the mean
 * of each one's values at epochs <= e), over the other trials whose curve has
 * reached e, once there are at least MEDIAN_MIN_OTHERS of them.
 */
export function medianDecide(trialId: string, curve: Curve, allCurves: ReadonlyMap<string, Curve>, pruning: Pruning): PruneDecision {
  const last = curve[curve.length - 1];
  if (!last || last.epoch < pruning.gracePeriod) return CONTINUE;
  const averages = otherTrials(trialId, allCurves)
    .filter((c) => c.some((p) => p.epoch === last.epoch))
    .map((c) => mean(c.filter((p) => p.epoch <= last.epoch).map((p) => p.value)));
  if (averages.length < MEDIAN_MIN_OTHERS) return CONTINUE;
  const best = Math.max(...curve.filter((p) => p.epoch <= last.epoch).map((p) => p.value));
  const m = median(averages);
  if (!(best < m)) return CONTINUE;
  return {
    continue: false,
    rule: 'median',
    reason: `epoch ${last.epoch}: best ${fmt(best)} is below the median ${fmt(m)} of ${averages.length} other trials' running averages`,
  };
}

function otherTrials(trialId: string, allCurves: ReadonlyMap<string, Curve>): Curve[] {
  return [...allCurves].filter(([id]) => id !== trialId).map(([, c]) => c);
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(value: number): string {
  return Number(value.toFixed(4)).toString();
}
