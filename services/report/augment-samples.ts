import { augmentBatch, IMAGE_LEN, IMAGE_SIZE, mixBatch, type MixMode } from '../../src/augment/index.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../../src/dataset/index.js';
import type { AugmentPreset } from '../../src/runtime/config/run-config.js';
import { epochPermutation } from '../../src/training/epoch-order.js';
import type { RgbTile } from './image-grid.js';

/** Training images as the dataset loads them: HWC bytes and labels. */
export interface TrainImages {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** Test or training image `index` as a tile. */
export function rawTile(images: Uint8Array, index: number): RgbTile {
  return { width: IMAGE_SIZE, height: IMAGE_SIZE, rgb: images.slice(index * IMAGE_LEN, (index + 1) * IMAGE_LEN) };
}

/** Augmented, normalised pixels back to bytes (the inverse of augment/'s normalisation), for looking at. */
export function denormalisedTile(x: Float32Array, position = 0): RgbTile {
  const rgb = new Uint8Array(IMAGE_LEN);
  const at = position * IMAGE_LEN;
  for (let i = 0; i < IMAGE_LEN; i++) {
    const ch = i % 3;
    const unit = x[at + i]! * CIFAR10_STD[ch]! + CIFAR10_MEAN[ch]!;
    rgb[i] = Math.max(0, Math.min(255, Math.round(unit * 255)));
  }
  return { width: IMAGE_SIZE, height: IMAGE_SIZE, rgb };
}

/**
 * Training image `index` as the run augments it in epochs 1..count: the
 * per-sample draw is keyed by (seed, epoch, index), so these are the very
 * images the run trained on, whatever batch they fell in.
 */
export function augmentedTiles(train: TrainImages, index: number, config: { seed: number; augment: AugmentPreset }, count = 8): RgbTile[] {
  return Array.from({ length: count }, (_, e) => {
    const b = augmentBatch({
      images: train.images,
      labels: train.labels,
      indices: [index],
      epoch: e + 1,
      seed: config.seed,
      preset: config.augment,
    });
    return denormalisedTile(b.x);
  });
}

export interface MixExample {
  mode: Exclude<MixMode, 'none'>;
  /** The weight of `a`'s image and label (CutMix: the fraction of `a` left unpasted). */
  lam: number;
  a: { tile: RgbTile; label: number };
  b: { tile: RgbTile; label: number };
  mixed: RgbTile;
  epoch: number;
  step: number;
}

export interface MixConfig {
  seed: number;
  augment: AugmentPreset;
  batchSize: number;
  mixupAlpha: number;
  cutmixAlpha: number;
  labelSmoothing: number;
}

/**
 * Mixed training examples as a one-process run draws them: the first steps
 * of epoch 1, each batch augmented then mixed with the run's seed, the step
 * as the batch key. One example per step (so each has its own lambda), both
 * modes shared evenly when both are on.
 */
export function mixExamples(train: TrainImages, config: MixConfig, count = 4, stepsPerEpoch?: number): MixExample[] {
  const both = config.mixupAlpha > 0 && config.cutmixAlpha > 0;
  if (config.mixupAlpha <= 0 && config.cutmixAlpha <= 0) return [];
  const perEpoch = stepsPerEpoch ?? Math.ceil(train.count / config.batchSize);
  const found: MixExample[] = [];
  const modeCount = { mixup: 0, cutmix: 0 };
  for (let globalStep = 0; globalStep < 64 && found.length < count; globalStep++) {
    const epoch = Math.floor(globalStep / perEpoch) + 1;
    const step = globalStep % perEpoch;
    const order = epochPermutation(config.seed, epoch, train.count);
    const indices = order.subarray(step * config.batchSize, (step + 1) * config.batchSize);
    if (indices.length < 2) continue;
    const augmented = augmentBatch({
      images: train.images,
      labels: train.labels,
      indices,
      epoch,
      seed: config.seed,
      preset: config.augment,
    });
    const before = augmented.x.slice();
    const mixed = mixBatch({
      x: augmented.x,
      labels: augmented.labels,
      seed: config.seed,
      epoch,
      batchKey: globalStep,
      labelSmoothing: config.labelSmoothing,
      ...(config.mixupAlpha > 0 ? { mixupAlpha: config.mixupAlpha } : {}),
      ...(config.cutmixAlpha > 0 ? { cutmixAlpha: config.cutmixAlpha } : {}),
    });
    if (mixed.mode === 'none' || (both && modeCount[mixed.mode] >= Math.ceil(count / 2))) continue;
    // The first sample paired with another image of another class: a mix that shows.
    let i = 0;
    while (i < indices.length && (mixed.perm[i] === i || augmented.labels[i] === augmented.labels[mixed.perm[i]!])) i++;
    if (i === indices.length) continue;
    const j = mixed.perm[i]!;
    modeCount[mixed.mode]++;
    found.push({
      mode: mixed.mode,
      lam: mixed.lam,
      a: { tile: denormalisedTile(before, i), label: augmented.labels[i]! },
      b: { tile: denormalisedTile(before, j), label: augmented.labels[j]! },
      mixed: denormalisedTile(mixed.x, i),
      epoch,
      step,
    });
  }
  return found;
}
