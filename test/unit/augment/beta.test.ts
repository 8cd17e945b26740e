import { describe, expect, it } from 'vitest';
import { AugmentOptionError, batchRandom, sampleBeta, sampleGamma, sampleNormal } from '../../../src/augment/index.js';

const moments = (draw: () => number, n: number): { mean: number; variance: number; min: number; max: number } => {
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = draw();
    sum += v;
    sq += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / n;
  return { mean, variance: sq / n - mean * mean, min, max };
};

describe('sampleNormal', () => {
  it('has mean 0 and variance 1', () => {
    const rng = batchRandom(1, 0, 0);
    const m = moments(() => sampleNormal(rng), 50_000);
    expect(Math.abs(m.mean)).toBeLessThan(0.03);
    expect(m.variance).toBeCloseTo(1, 1);
  });
});

describe('sampleGamma (Marsaglia-Tsang, boosted below shape 1)', () => {
  for (const shape of [0.1, 0.4, 1, 2.5, 9]) {
    it(`Gamma(${shape}) has mean and variance ${shape} and is positive`, () => {
      const rng = batchRandom(2, 0, Math.round(shape * 10));
      const m = moments(() => sampleGamma(rng, shape), 40_000);
      expect(m.min).toBeGreaterThanOrEqual(0);
      // Standard error of the mean is sqrt(shape/n); allow ~5 of them.
      expect(Math.abs(m.mean - shape)).toBeLessThan(5 * Math.sqrt(shape / 40_000));
      expect(m.variance / shape).toBeGreaterThan(0.9);
      expect(m.variance / shape).toBeLessThan(1.1);
    });
  }

  it('rejects shape <= 0', () => {
    const rng = batchRandom(0, 0, 0);
    expect(() => sampleGamma(rng, 0)).toThrow(AugmentOptionError);
    expect(() => sampleGamma(rng, -2)).toThrow(/gamma shape: -2/);
  });
});

describe('sampleBeta', () => {
  for (const alpha of [0.2, 1, 4]) {
    it(`Beta(${alpha}, ${alpha}) stays in [0,1] with mean 0.5 and variance 1/(4(2a+1))`, () => {
      const rng = batchRandom(3, 1, alpha * 10);
      const m = moments(() => sampleBeta(rng, alpha, alpha), 40_000);
      expect(m.min).toBeGreaterThanOrEqual(0);
      expect(m.max).toBeLessThanOrEqual(1);
      expect(Math.abs(m.mean - 0.5)).toBeLessThan(0.01);
      expect(m.variance).toBeCloseTo(1 / (4 * (2 * alpha + 1)), 2);
    });
  }

  it('follows asymmetric shapes: Beta(2, 6) has mean 1/4', () => {
    const rng = batchRandom(4, 0, 0);
    expect(moments(() => sampleBeta(rng, 2, 6), 40_000).mean).toBeCloseTo(0.25, 2);
  });

  it('handles tiny alpha without NaN (mass piles at 0 and 1)', () => {
    const rng = batchRandom(5, 0, 0);
    const m = moments(() => sampleBeta(rng, 0.01, 0.01), 5_000);
    expect(Number.isNaN(m.mean)).toBe(false);
    expect(m.min).toBeGreaterThanOrEqual(0);
    expect(m.max).toBeLessThanOrEqual(1);
  });

  it('is reproducible from the stream key', () => {
    const a = batchRandom(9, 2, 17);
    const b = batchRandom(9, 2, 17);
    expect([sampleBeta(a, 0.4, 0.4), sampleBeta(a, 0.4, 0.4)]).toEqual([sampleBeta(b, 0.4, 0.4), sampleBeta(b, 0.4, 0.4)]);
  });
});
