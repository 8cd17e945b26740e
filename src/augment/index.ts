/**
 * augment/: CIFAR-10 augmentation, seeded per sample.
 *
 * Per-sample transforms (crop/flip/jitter/normalise) draw only from
 * (seed, epoch, dataset index), so any worker count gives identical images.
 * Mixup/CutMix draw from (seed, epoch, batchKey) and pair samples within the
 * batch, so they also depend on batch composition.
 *
 * Typical training step:
 *   const b = augmentBatch({ images, labels, indices, epoch, seed, preset: 'full', out });
 *   const m = mixBatch({ x: b.x, labels: b.labels, seed, epoch, batchKey: step, mixupAlpha: 0.2, labelSmoothing: 0.1, out: mixOut });
 *   // train on m.x with soft-target cross-entropy against m.targets
 * Evaluation: normalizeBatch({ images, labels, indices }).
 */
export { CROP_PADDING, IMAGE_LEN, IMAGE_SIZE, CHANNELS, MAX_CROP_OFFSET } from './constants.js';
export { AugmentError, AugmentOptionError, BufferSizeError, DatasetShapeError, LabelRangeError, SampleIndexError } from './errors.js';
export { CounterRandom, batchRandom, mix32, sampleRandom, type RandomStream } from './sample-random.js';
export { IDENTITY_PARAMS, cropFlipJitter, croppedGrayMean, normalizeImage, normalizeValue, type TransformParams } from './transform.js';
export {
  AUGMENT_PRESETS,
  PRESET_SPECS,
  drawTransformParams,
  isAugmentPreset,
  parsePreset,
  type AugmentPreset,
  type PresetSpec,
} from './presets.js';
export { augmentBatch, normalizeBatch, type AugmentBatchOptions, type AugmentedBatch } from './augment-batch.js';
export { sampleBeta, sampleGamma, sampleNormal } from './beta.js';
export { mixedTargets, softTargets, type MixedTargetOptions, type SoftTargetOptions } from './soft-targets.js';
export {
  boxArea,
  cutmixBox,
  cutmixInPlace,
  drawMixParams,
  mixBatch,
  mixupInPlace,
  validateMixOptions,
  type CutBox,
  type MixBatchOptions,
  type MixedBatch,
  type MixMode,
  type MixOptions,
  type MixParams,
} from './mix.js';
