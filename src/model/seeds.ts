import { ModelConfigError } from './errors.js';

/** murmur3 finaliser: a cheap full-avalanche 32-bit mix. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Throws unless `seed` is a safe integer (any sign); fleet seeds are integers so runs can be replayed from a CLI flag. */
export function checkSeed(seed: number, option = 'seed'): void {
  if (!Number.isSafeInteger(seed)) throw new ModelConfigError(option, seed, 'must be a safe integer');
}

/**
 * A 32-bit seed for stream `index` of `seed`. Deterministic and pure, so the
 * same (model seed, layer index) gives the same initial weights on every worker.
 */
export function deriveSeed(seed: number, index: number): number {
  checkSeed(seed);
  // Fold both halves of a 53-bit seed in, so seeds 2^32 apart differ.
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  const base = mix32(lo ^ mix32(hi + 0x9e3779b9));
  return mix32((base + Math.imul((index >>> 0) + 1, 0x9e3779b9)) >>> 0);
}
