/**
 * Seeded Gamma and Beta sampling for Mixup/CutMix lambda. Beta(a, b) is
 * X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b); Gamma uses Marsaglia & Tsang
 * (2000), with the shape < 1 boost Gamma(a) = Gamma(a + 1) * U^(1/a).
 */
import type { RandomStream } from './sample-random.js';
import { requirePositive } from './validate.js';

/** Standard normal by Box-Muller; the second variate is dropped to keep the sampler stateless. */
export function sampleNormal(rng: RandomStream): number {
  const u1 = 1 - rng.float(); // (0, 1]: log stays finite
  const u2 = rng.float();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Gamma(shape, scale 1). */
export function sampleGamma(rng: RandomStream, shape: number): number {
  requirePositive('gamma shape', shape);
  if (shape < 1) {
    const boosted = marsagliaTsang(rng, shape + 1);
    return boosted * rng.float() ** (1 / shape);
  }
  return marsagliaTsang(rng, shape);
}

function marsagliaTsang(rng: RandomStream, shape: number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = sampleNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.float();
    const x2 = x * x;
    // Cheap squeeze first; the log test is exact.
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) in [0, 1]. */
export function sampleBeta(rng: RandomStream, a: number, b: number): number {
  requirePositive('beta a', a);
  requirePositive('beta b', b);
  for (;;) {
    const x = sampleGamma(rng, a);
    const y = sampleGamma(rng, b);
    // Both can underflow to 0 for tiny shapes; redraw rather than return NaN.
    if (x + y > 0) return x / (x + y);
  }
}
