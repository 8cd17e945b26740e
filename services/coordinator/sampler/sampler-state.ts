import { epochPermutation } from '../../../src/training/epoch-order.js';
import { SamplerStateError } from './errors.js';
import { MAX_BATCH_SIZE, MAX_COUNT, MAX_EPOCH, MAX_SEED, MAX_SYNC_EVERY, checkInteger } from './sampler-options.js';

/**
 * Everything a sampler is: JSON-safe, a few numbers and the pool. The order
 * of every future round is a pure function of it (and the member lists).
 * Invariant: applied + pool.length === cursor (every served index is either
 * applied or back in the pool).
 */
export interface SamplerState {
  readonly format: 1;
  readonly seed: number;
  readonly count: number;
  readonly batchSize: number;
  readonly syncEvery: number;
  /** The run's fixed global batch (SamplerOptions.globalBatch); absent in states written before it existed. */
  readonly globalBatch?: number;
  /** Current epoch, from 1. */
  readonly epoch: number;
  /** Positions 0..cursor-1 of the epoch's permutation have been served. */
  readonly cursor: number;
  /** Indices of evicted members, served first, in this order. */
  readonly pool: readonly number[];
  /** Indices of the epoch applied so far. */
  readonly applied: number;
  /** Id of the next round planned. */
  readonly nextRound: number;
}

type Field = Exclude<keyof SamplerState, 'format' | 'pool' | 'globalBatch'>;

const RANGES: [Field, number, number][] = [
  ['seed', 0, MAX_SEED],
  ['count', 1, MAX_COUNT],
  ['batchSize', 1, MAX_BATCH_SIZE],
  ['syncEvery', 1, MAX_SYNC_EVERY],
  ['epoch', 1, MAX_EPOCH],
  ['cursor', 0, MAX_COUNT],
  ['applied', 0, MAX_COUNT],
  ['nextRound', 0, Number.MAX_SAFE_INTEGER],
];

/**
 * Checks a state read back from a checkpoint and returns a clean copy.
 * Beyond types and ranges it checks the accounting (applied + pool = cursor)
 * and that every pooled index was really served already (its position in the
 * epoch's permutation is below the cursor) and appears once, so a corrupt
 * state cannot make the sampler serve an index twice. `expected.count` guards
 * against resuming on a different dataset.
 */
export function parseSamplerState(value: unknown, expected: { count?: number } = {}): SamplerState {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SamplerStateError('(state)', value, 'expected an object');
  const raw = value as Record<string, unknown>;
  if (raw.format !== 1) throw new SamplerStateError('format', raw.format, 'expected 1');
  const numbers = {} as Record<Field, number>;
  for (const [field, min, max] of RANGES) {
    const v = raw[field];
    if (!checkInteger(v, min, max)) throw new SamplerStateError(field, v, `expected an integer from ${min} to ${max}`);
    numbers[field] = v;
  }
  const { count, cursor, applied } = numbers;
  if (expected.count !== undefined && count !== expected.count) {
    throw new SamplerStateError('count', count, `the dataset has ${expected.count} training samples`);
  }
  if (cursor > count) throw new SamplerStateError('cursor', cursor, `beyond count ${count}`);
  const pool = raw.pool;
  if (!Array.isArray(pool)) throw new SamplerStateError('pool', pool, 'expected an array of indices');
  if (applied + pool.length !== cursor) {
    throw new SamplerStateError('applied', applied, `applied + pool length (${pool.length}) must equal cursor ${cursor}`);
  }
  const position = new Uint32Array(count);
  epochPermutation(numbers.seed, numbers.epoch, count).forEach((index, pos) => {
    position[index] = pos;
  });
  const seen = new Uint8Array(count);
  pool.forEach((index: unknown, i) => {
    if (!checkInteger(index, 0, count - 1)) throw new SamplerStateError(`pool[${i}]`, index, `expected an index from 0 to ${count - 1}`);
    if (seen[index]) throw new SamplerStateError(`pool[${i}]`, index, 'appears twice in the pool');
    if (position[index]! >= cursor)
      throw new SamplerStateError(`pool[${i}]`, index, `not served yet (permutation position ${position[index]} >= cursor ${cursor})`);
    seen[index] = 1;
  });
  const globalBatch = raw.globalBatch;
  if (globalBatch !== undefined && !checkInteger(globalBatch, 1, MAX_BATCH_SIZE * 64)) {
    throw new SamplerStateError('globalBatch', globalBatch, `expected an integer from 1 to ${MAX_BATCH_SIZE * 64}`);
  }
  return { format: 1, ...numbers, ...(globalBatch !== undefined ? { globalBatch } : {}), pool: [...(pool as number[])] };
}
