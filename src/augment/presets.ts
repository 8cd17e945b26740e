/**
 * Named augmentation recipes and the seeded drawing of their parameters.
 *
 *   none   normalise only (also the test-time transform)
 *   basic  random crop 32 / padding 4 + horizontal flip p=0.5
 *   full   basic + ColorJitter(brightness=0.2, contrast=0.2), order random per sample
 */
import { MAX_CROP_OFFSET } from './constants.js';
import { AugmentOptionError } from './errors.js';
import type { RandomStream } from './sample-random.js';
import { IDENTITY_PARAMS, type TransformParams } from './transform.js';

export type AugmentPreset = 'none' | 'basic' | 'full';
export const AUGMENT_PRESETS: readonly AugmentPreset[] = Object.freeze(['none', 'basic', 'full']);

export interface PresetSpec {
  readonly crop: boolean;
  readonly flip: boolean;
  /** Jitter strength s: factor ~ U[max(0, 1-s), 1+s]; 0 = off. */
  readonly brightness: number;
  readonly contrast: number;
}

export const PRESET_SPECS: Readonly<Record<AugmentPreset, PresetSpec>> = Object.freeze({
  none: Object.freeze({ crop: false, flip: false, brightness: 0, contrast: 0 }),
  basic: Object.freeze({ crop: true, flip: true, brightness: 0, contrast: 0 }),
  full: Object.freeze({ crop: true, flip: true, brightness: 0.2, contrast: 0.2 }),
});

export function isAugmentPreset(name: unknown): name is AugmentPreset {
  return typeof name === 'string' && Object.hasOwn(PRESET_SPECS, name);
}

/** For names from the CLI or a config file. */
export function parsePreset(name: string): AugmentPreset {
  if (!isAugmentPreset(name)) throw new AugmentOptionError('preset', name, AUGMENT_PRESETS.join(' | '));
  return name;
}

export function isIdentitySpec(spec: PresetSpec): boolean {
  return !spec.crop && !spec.flip && spec.brightness === 0 && spec.contrast === 0;
}

/**
 * Draws one sample's parameters into `into`. Always six draws in a fixed order
 * (dy, dx, flip, brightness, contrast, order), whatever the preset, so a
 * sample gets the same crop and flip under `basic` and `full`.
 */
export function drawTransformParams(rng: RandomStream, spec: PresetSpec, into: TransformParams): TransformParams {
  // torchvision draws the top offset before the left one.
  const dy = rng.int(MAX_CROP_OFFSET + 1);
  const dx = rng.int(MAX_CROP_OFFSET + 1);
  const flip = rng.float() < 0.5;
  const b = rng.float();
  const c = rng.float();
  const contrastFirst = rng.float() < 0.5;

  into.dy = spec.crop ? dy : IDENTITY_PARAMS.dy;
  into.dx = spec.crop ? dx : IDENTITY_PARAMS.dx;
  into.flip = spec.flip && flip;
  into.brightness = spec.brightness > 0 ? jitterFactor(spec.brightness, b) : 1;
  into.contrast = spec.contrast > 0 ? jitterFactor(spec.contrast, c) : 1;
  into.contrastFirst = contrastFirst;
  return into;
}

/** ColorJitter's factor range [max(0, 1-s), 1+s], mapped from u in [0,1). */
function jitterFactor(strength: number, u: number): number {
  const lo = Math.max(0, 1 - strength);
  return lo + (1 + strength - lo) * u;
}
