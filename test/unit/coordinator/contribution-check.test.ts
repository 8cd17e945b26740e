/**
 * The contribution check's rule (services/coordinator/aggregator/contribution-check.ts):
 * honest figures pass, garbage (scaled, sign-flipped, random, not finite) is
 * refused once the warm-up is over, repeat offenders are quarantined; and the
 * figures come out of WeightedSum's staging as the chunks arrive.
 */
import { describe, expect, it } from 'vitest';
import {
  ContributionCheck,
  leaveOneOutCosines,
  type ContributionFigures,
  type SketchedContribution,
} from '../../../services/coordinator/aggregator/contribution-check.js';
import { WeightedSum } from '../../../services/coordinator/aggregator/weighted-sum.js';

/** Honest figures of a run: norms around 2 (within 0.6x-1.6x), cosines 0.05-0.6. */
function honest(round: number, k: number): ContributionFigures {
  const wobble = Math.sin(round * 7.3 + k * 3.1);
  return { norm: 2 * (1.1 + 0.5 * wobble), cosine: 0.3 + 0.25 * Math.cos(round * 5.1 + k) };
}

/** A check past its warm-up: `rounds` rounds of 3 honest members. */
function warmed(rounds = 10): ContributionCheck {
  const check = new ContributionCheck();
  for (let r = 1; r <= rounds; r++) for (let k = 0; k < 3; k++) expect(check.judge(`w${k}`, r, honest(r, k)).accepted).toBe(true);
  return check;
}

describe('contribution check: the rule', () => {
  it('accepts honest figures over a long run, and collects without judging during the warm-up', () => {
    const check = new ContributionCheck();
    // Warm-up: the first 5 rounds only collect (no median yet): anything at all is accepted.
    for (let r = 1; r <= 5; r++) {
      expect(check.medianNorm()).toBeNull();
      expect(check.judge('w0', r, { norm: 1000 * r, cosine: -1 }).accepted).toBe(true);
    }
    expect(check.medianNorm()).toBe(3000);
    const fresh = warmed(200);
    expect(fresh.medianNorm()).toBeGreaterThan(1.5);
    expect(fresh.medianNorm()).toBeLessThan(3);
  });

  it('a diverging run (every contribution of rounds far above the median) quarantines nobody once runMoved says so', () => {
    // Without runMoved: the same members refused 3 rounds in a row are quarantined.
    const blind = warmed();
    const blindVerdicts = [11, 12, 13].map((r) =>
      [0, 1, 2].map((k) => blind.judge(`w${k}`, r, { norm: 100 * 10 ** (r - 11), cosine: null })),
    );
    expect(blindVerdicts.at(-1)!.map((v) => v.quarantine)).toEqual([true, true, true]);
    // With it (the runner calls it at the close of a round that applied nothing): the window restarts,
    // the refusals are not counted, the next rounds are the warm-up's, and nobody is quarantined.
    const check = warmed();
    const first = [0, 1, 2].map((k) => check.judge(`w${k}`, 11, { norm: 100, cosine: null }));
    expect(first.map((v) => v.rule)).toEqual(['norm-above', 'norm-above', 'norm-above']);
    check.runMoved(['w0', 'w1', 'w2']);
    expect(check.medianNorm()).toBeNull();
    for (const r of [12, 13, 14])
      for (const k of [0, 1, 2]) {
        const v = check.judge(`w${k}`, r, { norm: 100 * 10 ** (r - 11), cosine: null });
        expect([v.accepted, v.quarantine, v.recentRefusals]).toEqual([true, false, 0]);
      }
  });

  it('has no lower bound on the norm: a tiny gradient (the loss near zero) is accepted', () => {
    expect(warmed().judge('w2', 11, { norm: 0.02, cosine: 0.3 }).accepted).toBe(true);
  });

  it('judges a partial contribution (an epoch leftover) by its norm only', () => {
    const check = warmed();
    expect(check.judge('w1', 11, { norm: 2, cosine: -0.9 }, { partial: true }).accepted).toBe(true);
    expect(check.judge('w1', 12, { norm: 300, cosine: 0.5 }, { partial: true }).rule).toBe('norm-above');
  });

  it("does not weigh an accepted leftover shard (norm only) against a member's refusals: it could not catch a direction fault", () => {
    const check = warmed();
    const flipped = { norm: 2, cosine: -0.6 };
    expect(check.judge('w2', 11, flipped).rule).toBe('cosine');
    // Leftover scraps accepted in between: not rounds the window counts.
    for (const r of [12, 13, 14]) expect(check.judge('w2', r, { norm: 2, cosine: -0.6 }, { leftover: true }).accepted).toBe(true);
    expect(check.judge('w2', 15, flipped).recentRefusals).toBe(2);
    // Refused, a leftover counts as any refusal.
    const scrap = check.judge('w2', 16, { norm: 500, cosine: 0.3 }, { leftover: true });
    expect([scrap.rule, scrap.recentRefusals, scrap.quarantine]).toEqual(['norm-above', 3, true]);
  });

  it('holds back a member refused recently when it arrives first and a member in good standing is to come (not counted)', () => {
    const check = warmed();
    expect(check.judge('w2', 11, { norm: 2, cosine: -0.7 }).rule).toBe('cosine');
    // First in round 12 (no cosine): held back while w0 is still to come; not when only members on probation are left.
    const held = check.judge('w2', 12, { norm: 2, cosine: null }, { othersPending: ['w0', 'w1'] });
    expect([held.rule, held.quarantine, held.recentRefusals]).toEqual(['probation', false, 1]);
    expect(check.judge('w2', 13, { norm: 2, cosine: null }, { othersPending: [] }).accepted).toBe(true);
    // Honest members are never on probation, and the first to arrive is accepted.
    expect(check.judge('w0', 14, { norm: 2, cosine: null }, { othersPending: ['w1', 'w2'] }).accepted).toBe(true);
  });

  it("blames a conflict with the round's one earlier contribution on the member on probation, else drops both uncounted", () => {
    const check = warmed();
    // Neither on probation: which is wrong cannot be told; both go, not counted (the earlier stays after a round that applied nothing).
    const both = check.judge('w1', 11, { norm: 2, cosine: -0.8 }, { alone: 'w2' });
    expect([both.accepted, both.rule, both.dropEarlier, both.recentRefusals]).toEqual([false, 'conflict', { member: 'w2' }, 0]);
    const later = check.judge('w1', 11, { norm: 2, cosine: -0.8 }, { alone: 'w2', keepEarlier: true });
    expect([later.accepted, later.rule, later.dropEarlier]).toEqual([false, 'conflict', undefined]);
    // w2 refused once: a later conflict with it is its fault (counted), the later one stays.
    check.judge('w2', 12, { norm: 2, cosine: -0.7 });
    const theirs = check.judge('w0', 13, { norm: 2, cosine: -0.8 }, { alone: 'w2' });
    expect([
      theirs.accepted,
      theirs.dropEarlier?.member,
      theirs.dropEarlier?.refusal?.rule,
      theirs.dropEarlier?.refusal?.recentRefusals,
    ]).toEqual([true, 'w2', 'cosine', 2]);
    // The one on probation arriving second against one in good standing: refused, counted (the third quarantines).
    const mine = check.judge('w2', 14, { norm: 2, cosine: -0.8 }, { alone: 'w0' });
    expect([mine.rule, mine.dropEarlier, mine.quarantine]).toEqual(['cosine', undefined, true]);
  });

  it.each([
    ['scaled x100', { norm: 220, cosine: 0.3 }, 'norm-above'],
    ['random values (norm of sqrt(n/3), n = 100k)', { norm: 182, cosine: 0.001 }, 'norm-above'],
    ['sign-flipped', { norm: 2.2, cosine: -0.6 }, 'cosine'],
    ['not finite', { norm: Number.POSITIVE_INFINITY, cosine: 0.3 }, 'norm-above'],
  ] as const)('refuses %s by its %s rule', (_what, figures, rule) => {
    const verdict = warmed().judge('w2', 11, figures);
    expect(verdict.accepted).toBe(false);
    expect(verdict.rule).toBe(rule);
    expect(verdict.figures.medianNorm).toBeGreaterThan(1.5);
    expect(verdict.quarantine).toBe(false);
  });

  it('keeps a refused norm out of the window: a worker sending garbage every round does not move the median', () => {
    const check = warmed();
    const before = check.medianNorm()!;
    for (let r = 11; r <= 30; r++) {
      for (let k = 0; k < 2; k++) check.judge(`w${k}`, r, honest(r, k));
      check.judge('w2', r, { norm: 500, cosine: 0.2 });
    }
    expect(check.medianNorm()! / before).toBeGreaterThan(0.7);
    expect(check.medianNorm()! / before).toBeLessThan(1.4);
  });

  it('quarantines a member refused 3 times within its last 5 rounds, not one refused now and then', () => {
    const check = warmed();
    const flipped = { norm: 2, cosine: -0.6 };
    // Refused twice in 5 rounds, again only after those left the window: never quarantined.
    const sometimes = [true, false, false, true, false, false, false, true, false, false];
    for (const [i, bad] of sometimes.entries()) {
      const v = check.judge('w1', 11 + i, bad ? flipped : honest(11 + i, 1));
      expect(v.quarantine).toBe(false);
    }
    // Refused in 3 rounds of 5: the third refusal quarantines.
    const verdicts = [flipped, honest(21, 2), flipped, flipped].map((f, i) => check.judge('w2', 21 + i, f));
    expect(verdicts.map((v) => v.quarantine)).toEqual([false, false, false, true]);
    expect(verdicts.at(-1)!.recentRefusals).toBe(3);
  });
});

describe('contribution check: the clip', () => {
  it('scales an accepted norm between 3x and 4x the median (the clip, the norm factor) down to 3x; honest norms, leftovers and clip 0 are left alone', () => {
    const check = warmed();
    const median = check.medianNorm()!;
    // Honest figures (within 1.6x of the median) are never clipped.
    for (let r = 11; r <= 60; r++) for (let k = 0; k < 3; k++) expect(check.judge(`w${k}`, r, honest(r, k)).clip).toBeUndefined();
    // Noise with no direction, under the norm factor (4x): accepted, and scaled to 3x the median.
    const m = check.medianNorm()!;
    const noise = check.judge('w2', 61, { norm: 3.6 * m, cosine: 0.001 });
    expect(noise.accepted).toBe(true);
    expect(noise.clip! * 3.6 * m).toBeCloseTo(3 * m, 9);
    expect(noise.quarantine).toBe(false);
    // An epoch's leftover: its norm is not comparable; not clipped.
    expect(check.judge('w2', 62, { norm: 3.6 * m, cosine: 0.2 }, { leftover: true }).clip).toBeUndefined();
    // Off.
    const off = new ContributionCheck({ clipFactor: 0 });
    for (let r = 1; r <= 10; r++) for (let k = 0; k < 3; k++) off.judge(`w${k}`, r, honest(r, k));
    expect(off.judge('w2', 11, { norm: 3.6 * median, cosine: 0.001 })).toMatchObject({ accepted: true });
    expect(off.judge('w2', 12, { norm: 3.6 * median, cosine: 0.001 }).clip).toBeUndefined();
    expect(() => new ContributionCheck({ clipFactor: 0.5 })).toThrow(/clipFactor must be 0 or >= 1/);
  });

  it("a checkpoint's norm window (windowState, restoreWindow) makes a resumed check judge and clip as the uninterrupted one", () => {
    const check = warmed(30);
    const resumed = new ContributionCheck();
    resumed.restoreWindow(JSON.parse(JSON.stringify(check.windowState())));
    expect(resumed.medianNorm()).toBe(check.medianNorm());
    // A fresh check would be warming up: nothing clipped. The resumed one clips the same noise by the same factor.
    const noise = { norm: 3.5 * check.medianNorm()!, cosine: 0 };
    expect(new ContributionCheck().judge('w2', 31, noise).clip).toBeUndefined();
    const clip = check.judge('w2', 31, noise).clip;
    expect(clip).toBeCloseTo(3 / 3.5, 9);
    expect(resumed.judge('w2', 31, noise).clip).toBe(clip);
    expect(() => resumed.restoreWindow({ roundsSeen: 3, norms: [{ round: 1, values: [-1] }] })).toThrow(/norm window is malformed/);
  });

  it('keeps the norms of rounds of fewer than three members (partial) out of the window, but clips them against it', () => {
    const check = new ContributionCheck();
    for (let r = 1; r <= 10; r++)
      for (let k = 0; k < 2; k++) expect(check.judge(`w${k}`, r, honest(r, k), { partial: true }).accepted).toBe(true);
    expect(check.medianNorm()).toBeNull();
    const warm = warmed();
    expect(warm.judge('w1', 11, { norm: 3.75 * warm.medianNorm()!, cosine: -0.9 }, { partial: true }).clip).toBeCloseTo(0.8, 9);
  });

  it("scales a staged contribution's own values (scaleStaged), not the sum it joins, and keeps its weight", () => {
    const sum = new WeightedSum(2);
    sum.add(new Float32Array([1, 2]), 3);
    const staged = sum.stageWhole(new Float32Array([10, -20]), 1);
    sum.scaleStaged(staged, 0.5);
    sum.commit(staged);
    // (3 x (1, 2) + 1 x 0.5 x (10, -20)) / 4
    expect([sum.contributions, sum.weight, ...sum.average()]).toEqual([2, 4, 2, -1]);
    const incomplete = sum.stage(1);
    expect(() => sum.scaleStaged(incomplete, 0.5)).toThrow(/complete staged contribution/);
  });
});

describe('contribution check: the second opinion (deferred refusals)', () => {
  it('records a deferred refusal only when settled: confirmed and alone count (and quarantine), batch does not', () => {
    const check = warmed();
    const spike = { norm: 100, cosine: 0.3 };
    const pending = check.judge('w1', 11, spike, { defer: true });
    expect([pending.accepted, pending.rule, pending.secondOpinion, pending.recentRefusals, pending.quarantine]).toEqual([
      false,
      'norm-above',
      'pending',
      0,
      false,
    ]);
    // Not recorded yet: not on probation, nothing counted.
    expect(check.onProbation('w1')).toBe(false);
    const batch = check.settle('w1', pending, 'batch');
    expect([batch.secondOpinion, batch.recentRefusals, batch.quarantine]).toEqual(['batch', 0, false]);
    expect(check.onProbation('w1')).toBe(false);
    // Confirmed three times within 5 rounds: quarantined, as three counted refusals are.
    const settled = [12, 13, 14].map((r, i) =>
      check.settle('w1', check.judge('w1', r, spike, { defer: true }), i === 1 ? 'alone' : 'confirmed'),
    );
    expect(settled.map((v) => [v.secondOpinion, v.recentRefusals, v.quarantine])).toEqual([
      ['confirmed', 1, false],
      ['alone', 2, false],
      ['confirmed', 3, true],
    ]);
  });

  it('defers only the figures rules: a probation hold-back, a conflict and a blame are as without it', () => {
    const check = warmed();
    const cosine = check.judge('w2', 11, { norm: 2, cosine: -0.7 }, { defer: true });
    expect([cosine.rule, cosine.secondOpinion]).toEqual(['cosine', 'pending']);
    check.settle('w2', cosine, 'confirmed');
    const held = check.judge('w2', 12, { norm: 2, cosine: null }, { othersPending: ['w0'], defer: true });
    expect([held.rule, held.secondOpinion]).toEqual(['probation', undefined]);
    const conflict = check.judge('w0', 13, { norm: 2, cosine: -0.8 }, { alone: 'w1', defer: true });
    expect([conflict.rule, conflict.secondOpinion]).toEqual(['conflict', undefined]);
    const blamed = check.judge('w0', 14, { norm: 2, cosine: -0.8 }, { alone: 'w2', defer: true });
    expect([blamed.accepted, blamed.dropEarlier?.refusal?.rule, blamed.dropEarlier?.refusal?.secondOpinion]).toEqual([
      true,
      'cosine',
      undefined,
    ]);
  });

  it('blames the batch only for two norm refusals with a like norm (not a worker scaling garbage on an outlier batch, not a sign flip)', () => {
    const check = warmed();
    const first = check.judge('w0', 11, { norm: 60, cosine: 0.3 }, { defer: true });
    expect(check.sameBatch(first, check.judge('w1', 12, { norm: 90, cosine: 0.2 }, { defer: true }))).toBe(true);
    expect(check.sameBatch(first, check.judge('w1', 12, { norm: 6000, cosine: 0.2 }, { defer: true }))).toBe(false);
    expect(check.sameBatch(first, check.judge('w1', 12, { norm: 2, cosine: -0.8 }, { defer: true }))).toBe(false);
    expect(check.sameBatch(first, check.judge('w1', 12, { norm: 2, cosine: 0.3 }, { defer: true }))).toBe(false);
    // Two cosine refusals with like norms: a sign-flipped worker's on an honest batch looks just so.
    const flipped = check.judge('w0', 13, { norm: 2, cosine: -0.8 }, { defer: true });
    expect(check.sameBatch(flipped, check.judge('w1', 14, { norm: 2.2, cosine: -0.7 }, { defer: true }))).toBe(false);
  });
});

describe('contribution check: the figures, summed while staging', () => {
  it("judges the gradients' ranges only: values that are not gradients (BatchNorm statistics) are summed, not judged, not clipped", () => {
    // Floats 0-1 and 4-5 are gradients; 2-3 running statistics, alike in every worker and far larger.
    const sum = new WeightedSum(6);
    sum.trackFigures([
      { offset: 4, length: 2 },
      { offset: 0, length: 2 },
    ]);
    sum.add(new Float32Array([3, 0, 100, 100, 0, 4]), 1);
    // Sign-flipped gradients with the same statistics: its figures see the flip, not the statistics.
    const flipped = sum.stage(1);
    flipped.accumulate(new Float32Array([-3, 0, 100]));
    flipped.accumulate(new Float32Array([100, 0, -4]));
    const f = flipped.figures!.figures();
    expect(f.norm).toBeCloseTo(5, 6);
    expect(f.cosine).toBeCloseTo(-1, 6);
    // Its sketch holds the gradients only: the same as a sketch of them alone.
    const alone = new WeightedSum(6);
    alone.trackFigures();
    const bare = alone.stageWhole(new Float32Array([-3, 0, 0, 0, 0, -4]), 1);
    expect([...flipped.figures!.sketch]).toEqual([...bare.figures!.sketch]);
    // A clip scales its gradients, and leaves its statistics as they are.
    sum.scaleStaged(flipped, 0.5);
    sum.commit(flipped);
    expect([...sum.average()]).toEqual([0.75, 0, 100, 100, 0, 1]);
  });

  it("takes the round's one earlier contribution out of the sum (dropEarlier): the later one alone remains", () => {
    const sum = new WeightedSum(2);
    sum.trackFigures();
    sum.add(new Float32Array([1, 2]), 3);
    const later = sum.stageWhole(new Float32Array([5, -4]), 2);
    sum.dropEarlier(later);
    sum.commit(later);
    expect([sum.contributions, sum.weight, ...sum.average()]).toEqual([1, 2, 5, -4]);
  });

  it("gives a contribution's norm, and its cosine with the round's earlier contributions, chunk by chunk", () => {
    const sum = new WeightedSum(6);
    sum.trackFigures();
    // The round's first: a norm, no cosine (nothing to compare with).
    const first = sum.stage(2);
    first.accumulate(new Float32Array([3, 4, 0]));
    first.accumulate(new Float32Array([0, 0, 0]));
    expect(first.figures!.figures()).toEqual({ norm: 5, cosine: null });
    sum.commit(first);
    // Against the round's sum so far (2 x (3, 4, 0, 0, 0, 0)): the same way, the opposite, orthogonal.
    const cases: [number[], number][] = [
      [[6, 8, 0, 0, 0, 0], 1],
      [[-3, -4, 0, 0, 0, 0], -1],
      [[0, 0, 1, 0, 0, 1], 0],
    ];
    for (const [values, cosine] of cases) {
      const staged = sum.stage(1);
      staged.accumulate(new Float32Array(values.slice(0, 4)));
      staged.accumulate(new Float32Array(values.slice(4)));
      expect(staged.figures!.figures().cosine).toBeCloseTo(cosine, 6);
      sum.discard(staged);
    }
  });
});

/** A seeded generator (mulberry32): the same vectors every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Gradients of one round: a shared direction plus each member's own noise (cosine between two about `agreement`). */
function roundGradients(members: number, length: number, agreement: number, seed: number): Float32Array[] {
  const next = random(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  const shared = Float32Array.from({ length }, gauss);
  const own = Math.sqrt((1 - agreement) / agreement);
  return Array.from({ length: members }, () => Float32Array.from(shared, (v) => v + own * gauss()));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(aa * bb);
}

/** Stages each gradient through a WeightedSum (chunked, as the wire brings it) and returns its sketch. */
function sketched(gradients: Float32Array[], weights: number[]): SketchedContribution[] {
  const sum = new WeightedSum(gradients[0]!.length);
  sum.trackFigures();
  return gradients.map((g, k) => {
    const staged = sum.stage(weights[k]!);
    for (let at = 0; at < g.length; at += 7000) staged.accumulate(g.subarray(at, Math.min(g.length, at + 7000)));
    const sketch = staged.figures!.sketch;
    sum.commit(staged);
    return { member: `w${k}`, weight: weights[k]!, scale: 1, sketch };
  });
}

describe('contribution check: the direction (leave-one-out cosines, the direction rule)', () => {
  it("gives each contribution's cosine with the weighted sum of the round's others, from the sketches, whatever the order", () => {
    const length = 60_000;
    const gradients = roundGradients(4, length, 0.2, 7);
    // The fourth points against the others (a sign flip).
    gradients[3] = gradients[3]!.map((v) => -v);
    const weights = [48, 48, 32, 48];
    const exact = gradients.map((g, k) => {
      const others = new Float32Array(length);
      gradients.forEach((h, j) => {
        if (j !== k) for (let i = 0; i < length; i++) others[i]! += weights[j]! * h[i]!;
      });
      return cosine(g, others);
    });
    const byOrder = [sketched(gradients, weights), sketched([...gradients].reverse(), [...weights].reverse()).reverse()];
    for (const applied of byOrder) {
      const got = leaveOneOutCosines(applied.map((a, k) => ({ ...a, member: `w${k}` })));
      expect(got.map((g) => g.member)).toEqual(['w0', 'w1', 'w2', 'w3']);
      // 4096 buckets: within a few hundredths of the exact cosines.
      for (const [k, g] of got.entries()) expect(Math.abs(g.cosine - exact[k]!)).toBeLessThan(0.05);
    }
    expect(exact[3]).toBeLessThan(-0.2);
    expect(Math.min(...exact.slice(0, 3))).toBeGreaterThan(0);
    // Fewer than three: nobody's direction can be told.
    expect(leaveOneOutCosines(byOrder[0]!.slice(0, 2))).toEqual([]);
  });

  it("counts a clipped contribution's scale in the others' sum", () => {
    const gradients = roundGradients(4, 20_000, 0.3, 11);
    gradients[2] = gradients[2]!.map((v) => -50 * v);
    const applied = sketched(gradients, [1, 1, 1, 1]);
    // Unscaled, the flipped giant is everyone's "others": the honest ones look flipped too.
    const raw = leaveOneOutCosines(applied);
    expect(raw[0]!.cosine).toBeLessThan(-0.3);
    // Clipped to the others' size, the honest ones point with each other again.
    const clipped = leaveOneOutCosines(applied.map((a, k) => (k === 2 ? { ...a, scale: 1 / 50 } : a)));
    expect(clipped[0]!.cosine).toBeGreaterThan(0);
    expect(clipped[2]!.cosine).toBeLessThan(-0.3);
  });

  /** A warmed check fed `rounds` rounds of leave-one-out cosines, `flipped` (if any) pointing against the others. */
  function feed(check: ContributionCheck, rounds: number, seed: number, flipped: string | null) {
    const next = random(seed);
    const flagged: { round: number; member: string; lowest: number; meanCosine: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      // Honest: cosines around 0.2 (0.2 +- 0.3, negative a fifth of the time); flipped: around -0.15.
      const cosines = ['w0', 'w1', 'w2'].map((member) => ({ member, cosine: (member === flipped ? -0.15 : 0.2) + 0.6 * (next() - 0.5) }));
      for (const v of check.noteDirections(cosines))
        flagged.push({ round: r, member: v.member, lowest: v.lowest, meanCosine: v.meanCosine });
    }
    return flagged;
  }

  it('quarantines a member the lowest, and negative, in 12 of its last 20 full rounds; honest members are not, over a long run', () => {
    const flagged = feed(warmed(), 60, 3, 'w2');
    expect(flagged.length).toBeGreaterThan(0);
    expect(flagged.every((f) => f.member === 'w2' && f.lowest >= 12 && f.meanCosine < 0)).toBe(true);
    // Not before 12 rounds of it.
    expect(flagged[0]!.round).toBeGreaterThanOrEqual(11);
    // Honest members only: 2,000 rounds, nobody.
    expect(feed(warmed(), 2000, 5, null)).toEqual([]);
  });

  it('does not judge directions during the warm-up, nor in a round of fewer than three', () => {
    const cold = new ContributionCheck();
    const against = [
      { member: 'w0', cosine: 0.3 },
      { member: 'w1', cosine: 0.2 },
      { member: 'w2', cosine: -0.5 },
    ];
    for (let r = 0; r < 40; r++) expect(cold.noteDirections(against)).toEqual([]);
    const check = warmed();
    for (let r = 0; r < 40; r++) expect(check.noteDirections(against.slice(1))).toEqual([]);
    const verdicts = Array.from({ length: 12 }, () => check.noteDirections(against));
    expect(verdicts.slice(0, 11).every((v) => v.length === 0)).toBe(true);
    expect(verdicts[11]).toEqual([expect.objectContaining({ member: 'w2', lowest: 12, rounds: 12, cosine: -0.5 })]);
  });
});
