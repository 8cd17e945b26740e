import { SamplerOptionError } from './errors.js';

/** What a sampler is built from; `epoch` defaults to 1 (epochs are numbered from 1, as in training/train-run.ts). */
export interface SamplerOptions {
  /** Run seed, 0 to 2^32-1 (the config's --seed). */
  readonly seed: number;
  /** Training samples in the dataset: the epoch's indices are 0..count-1. */
  readonly count: number;
  /** Samples per local step of one worker. */
  readonly batchSize: number;
  /** Local steps per round: 1 = gradient averaging every step, K > 1 = parameter averaging every K steps. */
  readonly syncEvery: number;
  /**
   * Samples per local step over all members, fixed for the run: a round cuts
   * it evenly among the members present (ceil(globalBatch / members) each).
   * Absent: members x batchSize (every member's batch fixed, the round grows
   * and shrinks with the membership).
   */
  readonly globalBatch?: number | null;
  readonly epoch?: number;
}

export type CompiledSamplerOptions = Required<Omit<SamplerOptions, 'globalBatch'>> & { globalBatch: number | null };

/** Bounds chosen so every product the sampler forms (members * syncEvery * batchSize) stays an exact integer. */
export const MAX_SEED = 0xffff_ffff;
export const MAX_COUNT = 0x7fff_ffff;
export const MAX_BATCH_SIZE = 1 << 20;
export const MAX_SYNC_EVERY = 1 << 20;
export const MAX_EPOCH = 0x7fff_ffff;

export function checkInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** Validates raw options once; throws SamplerOptionError naming the first bad option. */
export function compileSamplerOptions(raw: SamplerOptions): CompiledSamplerOptions {
  const compiled = { ...raw, epoch: raw.epoch ?? 1, globalBatch: raw.globalBatch ?? null };
  const ranges: [Exclude<keyof CompiledSamplerOptions, 'globalBatch'>, number, number][] = [
    ['seed', 0, MAX_SEED],
    ['count', 1, MAX_COUNT],
    ['batchSize', 1, MAX_BATCH_SIZE],
    ['syncEvery', 1, MAX_SYNC_EVERY],
    ['epoch', 1, MAX_EPOCH],
  ];
  for (const [option, min, max] of ranges) {
    const value = compiled[option];
    if (!checkInteger(value, min, max)) throw new SamplerOptionError(option, value, `an integer from ${min} to ${max}`);
  }
  if (compiled.globalBatch !== null && !checkInteger(compiled.globalBatch, 1, MAX_BATCH_SIZE * 64)) {
    throw new SamplerOptionError('globalBatch', compiled.globalBatch, `an integer from 1 to ${MAX_BATCH_SIZE * 64}`);
  }
  return {
    seed: compiled.seed,
    count: compiled.count,
    batchSize: compiled.batchSize,
    syncEvery: compiled.syncEvery,
    globalBatch: compiled.globalBatch,
    epoch: compiled.epoch,
  };
}
