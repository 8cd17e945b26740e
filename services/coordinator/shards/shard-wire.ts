import type { WeightSlice } from '../../../src/training/flat-weights.js';

/**
 * Load's and Gather's tensor set: each tensor of the slice as MASTER_PREFIX +
 * name, then its momentum as MOMENTUM_PREFIX + name. The prefixes keep the
 * set sorted by name (the wire's rule) with the master values first.
 */
export const MASTER_PREFIX = 'master/';
export const MOMENTUM_PREFIX = 'momentum/';

/** A shard's master slices, then the same tensors' momentum after them, packed. */
export function withMomentum(shard: { slices: readonly WeightSlice[]; floats: number }): WeightSlice[] {
  return [
    ...shard.slices.map((s) => ({ ...s, name: MASTER_PREFIX + s.name })),
    ...shard.slices.map((s) => ({ ...s, name: MOMENTUM_PREFIX + s.name, offset: s.offset + shard.floats })),
  ];
}

/** How long an aggregator's PREPARE waits for slices of contributions the coordinator already counts (still arriving). */
export const PREPARE_WAIT_MS = 60_000;
