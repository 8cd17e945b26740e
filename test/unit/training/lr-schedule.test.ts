import { describe, expect, it } from 'vitest';
import { learningRateAt } from '../../../src/training/lr-schedule.js';
import { planTraining, ConfigError } from '../../../src/runtime/config/train-config.js';
import { testConfig } from '../../helpers/test-config.js';

describe('learning-rate schedule', () => {
  const s = { baseLr: 0.1, minLr: 0, warmupSteps: 10, totalSteps: 110 };

  it('ramps linearly during warm-up and reaches the base rate at its end', () => {
    expect(learningRateAt(0, s)).toBeCloseTo(0.01, 12);
    expect(learningRateAt(4, s)).toBeCloseTo(0.05, 12);
    expect(learningRateAt(9, s)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(10, s)).toBeCloseTo(0.1, 12);
  });

  it('follows a half cosine down to minLr', () => {
    expect(learningRateAt(60, s)).toBeCloseTo(0.05, 12); // half way through the decay
    expect(learningRateAt(110, s)).toBeCloseTo(0, 12);
    const withFloor = { ...s, minLr: 0.001 };
    expect(learningRateAt(110, withFloor)).toBeCloseTo(0.001, 12);
    for (let t = 11; t < 110; t++) expect(learningRateAt(t, s)).toBeLessThan(learningRateAt(t - 1, s));
  });

  it('is a plain cosine without warm-up', () => {
    expect(learningRateAt(0, { ...s, warmupSteps: 0 })).toBeCloseTo(0.1, 12);
  });
});

describe('training plan', () => {
  const base = { dataDir: 'd', outDir: 'o', workers: 1, epochs: 1, batchSize: 128, warmupEpochs: 1 };

  it('caps warm-up at a fifth of the run', () => {
    const plan = planTraining(testConfig(base), 10_000);
    expect(plan.stepsPerEpoch).toBe(79);
    expect(plan.warmupSteps).toBe(15);
    const long = planTraining(testConfig({ ...base, epochs: 30 }), 10_000);
    expect(long.warmupSteps).toBe(79);
  });

  it('names every flag that is out of range', () => {
    try {
      testConfig({ ...base, lr: -1, labelSmoothing: 1, workers: 0 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toContain('--lr -1');
      expect(message).toContain('--label-smoothing 1');
      expect(message).toContain('--workers 0');
    }
  });
});
