import { AugmentOptionError } from './errors.js';

/** Seeds, epochs and batch keys: any non-negative safe integer (all 53 bits are hashed). */
export function requireNonNegativeInt(option: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new AugmentOptionError(option, value, 'a non-negative safe integer');
}

export function requirePositive(option: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new AugmentOptionError(option, value, 'a finite number > 0');
}

/** Label smoothing s: s = 1 would erase the label entirely, so it is excluded. */
export function requireSmoothing(option: string, value: number): void {
  if (!Number.isFinite(value) || value < 0 || value >= 1) throw new AugmentOptionError(option, value, 'a number in [0, 1)');
}

export function requireNumClasses(value: number): void {
  if (!Number.isSafeInteger(value) || value < 2) throw new AugmentOptionError('numClasses', value, 'an integer >= 2');
}
