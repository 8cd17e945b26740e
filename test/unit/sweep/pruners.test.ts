import { describe, expect, it } from 'vitest';
import { createPruner, type Curve, isRung, MEDIAN_MIN_OTHERS, type Pruner } from '../../../services/sweep/pruners.js';

const curve = (...values: number[]): Curve => values.map((value, i) => ({ epoch: i + 1, value }));

/**
 * Runs synthetic trials as the sweep driver does: trial k starts at time
 * start[k], its epoch e lands at time start[k] + e (ties in id order); after
 * each epoch but the last the pruner decides, and a stopped trial runs no
 * more epochs. Returns the epoch each trial was stopped at (null: it finished).
 */
function simulate(pruner: Pruner, trials: Record<string, number[]>, start: Record<string, number>): Record<string, number | null> {
  const events = Object.entries(trials)
    .flatMap(([id, values]) => values.map((_, i) => ({ id, epoch: i + 1, time: start[id]! + i + 1 })))
    .sort((a, b) => a.time - b.time || a.id.localeCompare(b.id));
  const curves = new Map<string, Curve>();
  const stopped: Record<string, number | null> = Object.fromEntries(Object.keys(trials).map((id) => [id, null]));
  for (const { id, epoch } of events) {
    if (stopped[id] !== null) continue;
    const mine = curve(...trials[id]!.slice(0, epoch));
    curves.set(id, mine);
    if (epoch === trials[id]!.length) continue; // the last epoch ends the trial anyway
    const decision = pruner.decide(id, mine, curves);
    if (!decision.continue) stopped[id] = epoch;
  }
  return stopped;
}

describe('ASHA', () => {
  it('has rungs at gracePeriod * reductionFactor^k', () => {
    expect([1, 2, 3, 4, 5, 9, 27].filter((e) => isRung(e, 1, 3))).toEqual([1, 3, 9, 27]);
    expect([1, 2, 3, 4, 6, 8, 16].filter((e) => isRung(e, 2, 2))).toEqual([2, 4, 8, 16]);
  });

  it('stops staggered trials at the rung where they fall out of the top 1/eta (synthetic curves)', () => {
    const asha = createPruner({ rule: 'asha', gracePeriod: 1, reductionFactor: 2 }); // rungs 1, 2, 4
    const trials = {
      t0: [0.3, 0.4, 0.45, 0.5, 0.52, 0.53],
      t1: [0.35, 0.45, 0.48, 0.49, 0.5, 0.51],
      t2: [0.1, 0.12, 0.13, 0.14, 0.15, 0.16],
      t3: [0.32, 0.44, 0.5, 0.55, 0.58, 0.6],
    };
    // Worked by hand (each trial starts one epoch after the previous):
    //  rung 1: t0 alone (n=1 < 2) continues; t1 0.35 is top 1 of 2; t2 0.10 is 3rd of 3, top 1 continue: stopped;
    //          t3 0.32 is 2nd of 4, top 2 continue.
    //  rung 2: t0 alone continues; t1 0.45 is top 1 of 2; t3 0.44 is 2nd of 3 (t0 0.40, t1 0.45): stopped.
    //  rung 4: t0 alone continues; t1 0.49 is 2nd of 2 (t0 0.50): stopped. t0 finishes.
    // (t3 would have been the best at epoch 6: asynchronous halving judges each trial by the rung results so far.)
    expect(simulate(asha, trials, { t0: 0, t1: 1, t2: 2, t3: 3 })).toEqual({ t0: null, t1: 4, t2: 1, t3: 2 });
  });

  it('with trials in lockstep keeps the first arrivals until the rung holds reductionFactor results', () => {
    const asha = createPruner({ rule: 'asha', gracePeriod: 1, reductionFactor: 3 }); // rungs 1, 3 (9 is the last epoch)
    const quality = [0.5, 0.9, 0.3, 0.8, 0.2, 0.7, 0.6, 0.1, 0.4];
    const trials = Object.fromEntries(quality.map((q, i) => [`t${i}`, Array.from({ length: 9 }, (_, e) => q * (1 - 0.5 ** (e + 1)))]));
    const start = Object.fromEntries(quality.map((_, i) => [`t${i}`, 0]));
    // Rung 1 in id order: t0, t1 continue (n < 3); t2..t4 are not the top 1 of n = 3..5; t5, t6, t7 not in the
    // top 2 of 6..8 (0.9 and 0.8 are ahead); t8 (0.4) not in the top 3 of 9. Rung 3: t0 and t1 alone, n < 3.
    expect(simulate(asha, trials, start)).toEqual({
      t0: null,
      t1: null,
      t2: 1,
      t3: 1,
      t4: 1,
      t5: 1,
      t6: 1,
      t7: 1,
      t8: 1,
    });
  });

  it('decides only at rungs, ranks ties in the trial’s favour, and reads its own curve from the argument', () => {
    const asha = createPruner({ rule: 'asha', gracePeriod: 1, reductionFactor: 2 });
    const others = new Map<string, Curve>([
      ['a', curve(0.5, 0.9)],
      ['b', curve(0.5, 0.8)],
    ]);
    expect(asha.decide('me', curve(0.1, 0.2, 0.1), others)).toEqual({ continue: true }); // epoch 3: no rung
    expect(asha.decide('me', curve(0.5), others)).toEqual({ continue: true }); // tied for first at rung 1: n=3, top 1
    const stale = new Map(others).set('me', curve(0.99, 0.99)); // the driver's map may hold later epochs of this trial
    const decision = asha.decide('me', curve(0.4, 0.7), stale);
    expect(decision).toEqual({ continue: false, rule: 'asha', reason: 'rung epoch 2: 0.7 ranks 3 of 3, only the top 1 (1/2) continue' });
  });
});

describe('median stopping rule', () => {
  const median = createPruner({ rule: 'median', gracePeriod: 2, reductionFactor: 3 });
  // Running averages at epoch 2: b 0.5, c 0.3, d 0.6 -> median 0.5 (their last values' median would be 0.6).
  const others = new Map<string, Curve>([
    ['b', curve(0.4, 0.6, 0.9)],
    ['c', curve(0.2, 0.4)],
    ['d', curve(0.5, 0.7)],
  ]);

  it("stops a trial whose best so far is below the median of the others' running averages at that epoch", () => {
    expect(median.decide('a', curve(0.45, 0.48), others)).toEqual({
      continue: false,
      rule: 'median',
      reason: "epoch 2: best 0.48 is below the median 0.5 of 3 other trials' running averages",
    });
    expect(median.decide('a', curve(0.5, 0.3), others)).toEqual({ continue: true }); // best = median: not below
    expect(median.decide('a', curve(0.3, 0.55), others)).toEqual({ continue: true }); // above the running averages' median
  });

  it('waits for the grace period and for enough other trials at the epoch', () => {
    expect(median.decide('a', curve(0.01), others)).toEqual({ continue: true }); // epoch 1 < grace period 2
    expect(MEDIAN_MIN_OTHERS).toBe(2);
    // Epoch 3: only b has reached it.
    expect(median.decide('a', curve(0.01, 0.01, 0.01), others)).toEqual({ continue: true });
    expect(median.decide('a', curve(0.01, 0.01), new Map([...others].slice(0, 1)))).toEqual({ continue: true });
    // Its own entry in the map is not one of the others.
    expect(median.decide('c', curve(0.2, 0.4), others)).toEqual({
      continue: false,
      rule: 'median',
      reason: "epoch 2: best 0.4 is below the median 0.55 of 2 other trials' running averages",
    });
  });

  it('rule none never stops', () => {
    expect(createPruner({ rule: 'none', gracePeriod: 1, reductionFactor: 3 }).decide('a', curve(0), others)).toEqual({ continue: true });
  });
});
