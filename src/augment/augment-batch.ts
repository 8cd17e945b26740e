/**
 * Turns a list of dataset indices into a normalised float batch, each image
 * augmented from its own (seed, epoch, index) stream: the output for an index
 * is the same whatever batch it lands in, at whatever position, on any worker.
 */
import { IMAGE_LEN } from './constants.js';
import { AugmentOptionError, BufferSizeError, DatasetShapeError, SampleIndexError } from './errors.js';
import { isAugmentPreset, isIdentitySpec, PRESET_SPECS, drawTransformParams, type AugmentPreset } from './presets.js';
import { CounterRandom, resetSampleRandom } from './sample-random.js';
import { IDENTITY_PARAMS, cropFlipJitter, type TransformParams } from './transform.js';
import { requireNonNegativeInt } from './validate.js';

export interface AugmentedBatch {
  /** [B, 32, 32, 3] normalised pixels. */
  x: Float32Array;
  /** [B] class ids. */
  labels: Int32Array;
}

export interface AugmentBatchOptions {
  /** N*32*32*3 bytes, HWC per image. */
  images: Uint8Array;
  /** N class ids. */
  labels: Uint8Array;
  /** Dataset indices making up the batch, in order. */
  indices: ArrayLike<number>;
  epoch: number;
  seed: number;
  preset: AugmentPreset;
  /**
   * Buffers to write into (no allocation on the hot path). Longer ones are
   * allowed, e.g. a full-size buffer reused for a short last batch; the result
   * is then a view of the first B images.
   */
  out?: AugmentedBatch;
}

/** Reused across calls: augmentBatch is synchronous, so one of each suffices. */
const rng = new CounterRandom();
const params: TransformParams = { ...IDENTITY_PARAMS };

export function augmentBatch(options: AugmentBatchOptions): AugmentedBatch {
  const { images, labels, indices, epoch, seed, preset } = options;
  if (!isAugmentPreset(preset)) throw new AugmentOptionError('preset', preset, 'none | basic | full');
  requireNonNegativeInt('seed', seed);
  requireNonNegativeInt('epoch', epoch);
  const spec = PRESET_SPECS[preset];
  const identity = isIdentitySpec(spec);
  return fillBatch(images, labels, indices, options.out, (_i, index) => {
    if (identity) return IDENTITY_PARAMS;
    return drawTransformParams(resetSampleRandom(rng, seed, epoch, index), spec, params);
  });
}

/** Test-time batch: normalisation only, no seed needed. */
export function normalizeBatch(options: Omit<AugmentBatchOptions, 'epoch' | 'seed' | 'preset'>): AugmentedBatch {
  return fillBatch(options.images, options.labels, options.indices, options.out, () => IDENTITY_PARAMS);
}

function fillBatch(
  images: Uint8Array,
  labels: Uint8Array,
  indices: ArrayLike<number>,
  out: AugmentedBatch | undefined,
  paramsFor: (position: number, index: number) => Readonly<TransformParams>,
): AugmentedBatch {
  const n = labels.length;
  if (images.length !== n * IMAGE_LEN) throw new DatasetShapeError(images.length, labels.length, IMAGE_LEN);
  const batch = indices.length;
  const result = outputFor(out, batch);
  const { x, labels: y } = result;
  for (let i = 0; i < batch; i++) {
    const index = indices[i]!;
    if (!Number.isInteger(index) || index < 0 || index >= n) throw new SampleIndexError(index, i, n);
    y[i] = labels[index]!;
    cropFlipJitter(images, x, paramsFor(i, index), index * IMAGE_LEN, i * IMAGE_LEN);
  }
  return result;
}

function outputFor(out: AugmentedBatch | undefined, batch: number): AugmentedBatch {
  if (!out) return { x: new Float32Array(batch * IMAGE_LEN), labels: new Int32Array(batch) };
  if (out.x.length < batch * IMAGE_LEN) throw new BufferSizeError('out.x', out.x.length, batch * IMAGE_LEN, false);
  if (out.labels.length < batch) throw new BufferSizeError('out.labels', out.labels.length, batch, false);
  if (out.x.length === batch * IMAGE_LEN && out.labels.length === batch) return out;
  return { x: out.x.subarray(0, batch * IMAGE_LEN), labels: out.labels.subarray(0, batch) };
}
