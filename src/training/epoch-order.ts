import { mulberry32 } from '../runtime/seeded-random.js';

/**
 * The order of training samples in an epoch: a permutation that is a pure
 * function of (seed, epoch, count), so a resumed or re-run training visits
 * the same samples in the same order.
 */
export function epochPermutation(seed: number, epoch: number, count: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const next = mulberry32(hash32(seed, epoch));
  // Fisher-Yates, back to front.
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

function hash32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}
