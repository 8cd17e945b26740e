import { describe, expect, it } from 'vitest';
import { configurationResults, findAblation, meanStd, paramValueResults } from '../../../services/report/sweep-summary.js';
import type { SweepRecord, TrialRecord } from '../../../src/training/run-record/index.js';
import { sweepRecordFixture, trialFixture } from '../../fixtures/sweep-records.js';

let next = 0;
/** A finished trial (ids in order) whose best epoch, 3, scored `best`. */
function trial(params: TrialRecord['params'], best: number | null, o: Partial<TrialRecord> = {}): TrialRecord {
  const id = `t${String(next++).padStart(3, '0')}`;
  return trialFixture(id, params, best === null ? [] : [{ epoch: 3, value: best }], { epochsRun: 3, ...o });
}

function sweep(varied: string[], trials: TrialRecord[]): SweepRecord {
  return sweepRecordFixture({ status: 'finished', varied, trials });
}

describe('sweep summary', () => {
  it('mean and sample standard deviation (n - 1), 0 for one value', () => {
    expect(meanStd([])).toEqual({ mean: null, std: null });
    expect(meanStd([0.5])).toEqual({ mean: 0.5, std: 0 });
    const { mean, std } = meanStd([0.4, 0.5, 0.6]);
    expect(mean).toBeCloseTo(0.5, 12);
    expect(std).toBeCloseTo(0.1, 12);
  });

  it('groups repeats by configuration, best mean first; a pruned repeat does not pull a finished mean down', () => {
    const record = sweep(
      ['augment'],
      [
        trial({ augment: 'none' }, 0.4),
        trial({ augment: 'none' }, 0.44, { seed: 2, repeat: 1 }),
        trial({ augment: 'full' }, 0.6),
        trial({ augment: 'full' }, 0.2, { seed: 2, repeat: 1, status: 'pruned' }),
        trial({ augment: 'basic' }, null, { status: 'failed', error: 'boom' }),
      ],
    );
    const configs = configurationResults(record);
    expect(configs.map((c) => c.params.augment)).toEqual(['full', 'none', 'basic']);
    expect(configs[0]!.values).toEqual([0.6]);
    expect(configs[0]!.statusCounts).toEqual({ finished: 1, pruned: 1 });
    expect(configs[1]!.mean).toBeCloseTo(0.42, 12);
    expect(configs[2]!.mean).toBeNull();
  });

  it('each value of a parameter with its mean and the change from the previous value in points, numbers ascending', () => {
    const record = sweep(['lr'], [trial({ lr: 0.3 }, 0.5), trial({ lr: 0.01 }, 0.3), trial({ lr: 0.1 }, 0.6)]);
    const values = paramValueResults(record, 'lr');
    expect(values.map((v) => v.value)).toEqual([0.01, 0.1, 0.3]);
    expect(values[0]!.changePoints).toBeNull();
    expect(values[1]!.changePoints).toBeCloseTo(30, 9);
    expect(values[2]!.changePoints).toBeCloseTo(-10, 9);
  });

  it('an ablation: a key naming the technique switched off, its baseline value, each contribution in points', () => {
    const record = sweep(
      ['ablate'],
      [
        trial({ ablate: 'none' }, 0.8),
        trial({ ablate: 'none' }, 0.82, { seed: 2, repeat: 1 }),
        trial({ ablate: 'mixup' }, 0.78),
        trial({ ablate: 'mixup' }, 0.78, { seed: 2, repeat: 1 }),
        trial({ ablate: 'labelSmoothing' }, 0.82),
        trial({ ablate: 'labelSmoothing' }, 0.83, { seed: 2, repeat: 1 }),
      ],
    );
    const ablation = findAblation(record)!;
    expect(ablation.param).toBe('ablate');
    expect(ablation.baselineValue).toBe('none');
    expect(ablation.baseline.mean).toBeCloseTo(0.81, 12);
    expect(ablation.contributions.map((c) => c.technique)).toEqual(['mixup', 'labelSmoothing']);
    expect(ablation.contributions[0]!.points).toBeCloseTo(3, 9);
    expect(ablation.contributions[1]!.points).toBeCloseTo(-1.5, 9);
    expect(ablation.contributions[0]!.stderrPoints).toBeCloseTo(Math.sqrt(0.02 ** 2 / 2 / 2) * 100, 9);
  });

  it("a spec's ablation: the trial param `without`, its reference `none`", () => {
    const record = sweep(['without'], [trial({ without: 'cutmix' }, 0.7), trial({ without: 'none' }, 0.75)]);
    const ablation = findAblation(record)!;
    expect(ablation.param).toBe('without');
    expect(ablation.baselineValue).toBe('none');
    expect(ablation.contributions).toMatchObject([{ technique: 'cutmix', stderrPoints: null }]);
    expect(ablation.contributions[0]!.points).toBeCloseTo(5, 9);
  });

  it('no ablation for an ordinary sweep, nor for an ablation key without a baseline value', () => {
    expect(findAblation(sweep(['augment'], [trial({ augment: 'none' }, 0.4), trial({ augment: 'full' }, 0.5)]))).toBeNull();
    expect(findAblation(sweep(['without'], [trial({ without: 'mixup' }, 0.4), trial({ without: 'cutmix' }, 0.5)]))).toBeNull();
  });
});
