/**
 * Batch-level Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019), timm-style.
 *
 * Each sample is paired with batch position perm[i], perm a seeded permutation
 * of the batch (fixed points allowed, as with torch.randperm: such a sample is
 * left as is). Choices come from the (seed, epoch, batchKey) stream, so they
 * are reproducible but, unlike per-sample transforms, depend on which samples
 * share the batch and in what order.
 *
 * Mixup:  x_i = lam*x_i + (1-lam)*x_perm[i],  lam ~ Beta(a, a)
 * CutMix: paste a box of x_perm[i] with area ratio ~ 1-lam into x_i, centre
 *         uniform, clipped at the border; lam is then reset to the exact
 *         unpasted fraction so targets match the pixels.
 * Targets: lam*smooth(y_i) + (1-lam)*smooth(y_perm[i]) (see soft-targets.ts).
 */
import { NUM_CLASSES } from '../dataset/cifar10-constants.js';
import * as K from './constants.js';
import { AugmentOptionError, BufferSizeError } from './errors.js';
import { sampleBeta } from './beta.js';
import { CounterRandom, batchRandom, type RandomStream } from './sample-random.js';
import { mixedTargets, softTargets } from './soft-targets.js';
import { requireNumClasses, requirePositive, requireSmoothing } from './validate.js';

// Module-local copies for the hot loops (see transform.ts).
const { CHANNELS, IMAGE_LEN, IMAGE_SIZE, ROW_LEN } = K;

export type MixMode = 'none' | 'mixup' | 'cutmix';

export interface MixOptions {
  /** Beta(a, a) for Mixup; omit to disable (0 is rejected, not read as "off"). */
  mixupAlpha?: number;
  /** Beta(a, a) for CutMix; omit to disable. With both set, each batch uses one, p = 0.5. */
  cutmixAlpha?: number;
  /** In [0, 1); default 0. */
  labelSmoothing?: number;
  /** Default 10. */
  numClasses?: number;
}

/** Rows [y0, y1) x columns [x0, x1) of the image; may be empty. */
export interface CutBox {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

export interface MixParams {
  mode: MixMode;
  /** Weight of each sample's own image and label; 1 when mode is 'none'. */
  lam: number;
  perm: Int32Array;
  /** The pasted box when mode is 'cutmix', else null. */
  box: CutBox | null;
}

export interface MixBatchOptions extends MixOptions {
  /** [B, 32, 32, 3] batch, e.g. augmentBatch's x; MIXED IN PLACE. */
  x: Float32Array;
  /** [B] class ids. */
  labels: ArrayLike<number>;
  seed: number;
  epoch: number;
  /** The caller's name for this batch, typically the global step. */
  batchKey: number;
  /** Reused outputs: targets of B*numClasses, perm of B. */
  out?: { targets: Float32Array; perm: Int32Array };
}

export interface MixedBatch extends MixParams {
  x: Float32Array;
  /** [B, numClasses] soft targets, rows summing to 1. */
  targets: Float32Array;
}

export function validateMixOptions(options: MixOptions): void {
  if (options.mixupAlpha !== undefined) requirePositive('mixupAlpha', options.mixupAlpha);
  if (options.cutmixAlpha !== undefined) requirePositive('cutmixAlpha', options.cutmixAlpha);
  if (options.labelSmoothing !== undefined) requireSmoothing('labelSmoothing', options.labelSmoothing);
  if (options.numClasses !== undefined) requireNumClasses(options.numClasses);
}

/**
 * Draws a batch's mix: a coin (cutmix if < 0.5, when both are enabled), lam,
 * the permutation, then for CutMix the box centre (row, column).
 */
export function drawMixParams(
  rng: RandomStream,
  options: MixOptions,
  batchSize: number,
  perm: Int32Array = new Int32Array(batchSize),
): MixParams {
  validateMixOptions(options);
  if (perm.length !== batchSize) throw new BufferSizeError('perm', perm.length, batchSize, true);
  for (let i = 0; i < batchSize; i++) perm[i] = i;
  const { mixupAlpha, cutmixAlpha } = options;
  if (mixupAlpha === undefined && cutmixAlpha === undefined) return { mode: 'none', lam: 1, perm, box: null };

  const coin = rng.float();
  const mode: MixMode = cutmixAlpha === undefined ? 'mixup' : mixupAlpha === undefined ? 'cutmix' : coin < 0.5 ? 'cutmix' : 'mixup';
  const alpha = mode === 'mixup' ? mixupAlpha! : cutmixAlpha!;
  const lam = sampleBeta(rng, alpha, alpha);
  // Fisher-Yates: uniform over all permutations.
  for (let i = batchSize - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  if (mode === 'mixup') return { mode, lam, perm, box: null };
  const box = cutmixBox(lam, rng.int(IMAGE_SIZE), rng.int(IMAGE_SIZE));
  return { mode, lam: 1 - boxArea(box) / (IMAGE_SIZE * IMAGE_SIZE), perm, box };
}

/**
 * timm's rand_bbox: sides floor(32*sqrt(1-lam)), centred on (cy, cx), each
 * edge at centre -/+ floor(side/2), clipped to the image.
 */
export function cutmixBox(lam: number, cy: number, cx: number): CutBox {
  if (!Number.isFinite(lam) || lam < 0 || lam > 1) throw new AugmentOptionError('lam', lam, 'a number in [0, 1]');
  const ratio = Math.sqrt(1 - lam);
  const half = Math.floor(Math.floor(IMAGE_SIZE * ratio) / 2);
  const clip = (v: number): number => Math.min(IMAGE_SIZE, Math.max(0, v));
  return { y0: clip(cy - half), y1: clip(cy + half), x0: clip(cx - half), x1: clip(cx + half) };
}

export function boxArea(box: CutBox): number {
  return Math.max(0, box.y1 - box.y0) * Math.max(0, box.x1 - box.x0);
}

/** x_i = lam*x_i + (1-lam)*x_perm[i] for every i, in place. */
export function mixupInPlace(x: Float32Array, perm: ArrayLike<number>, lam: number): void {
  if (!Number.isFinite(lam) || lam < 0 || lam > 1) throw new AugmentOptionError('lam', lam, 'a number in [0, 1]');
  const rest = 1 - lam;
  forEachPartner(x, perm, (dst, d, src, s) => {
    for (let k = 0; k < IMAGE_LEN; k++) dst[d + k] = lam * dst[d + k]! + rest * src[s + k]!;
  });
}

/** Pastes box of x_perm[i] into x_i for every i, in place. */
export function cutmixInPlace(x: Float32Array, perm: ArrayLike<number>, box: CutBox): void {
  const { y0, y1, x0, x1 } = box;
  const ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= IMAGE_SIZE;
  if (!ok(y0) || !ok(y1) || !ok(x0) || !ok(x1))
    throw new AugmentOptionError('cutmix box', JSON.stringify(box), `integer edges in 0..${IMAGE_SIZE}`);
  if (y1 <= y0 || x1 <= x0) return;
  const width = (x1 - x0) * CHANNELS;
  forEachPartner(x, perm, (dst, d, src, s) => {
    for (let r = y0; r < y1; r++) {
      const off = r * ROW_LEN + x0 * CHANNELS;
      for (let k = 0; k < width; k++) dst[d + off + k] = src[s + off + k]!;
    }
  });
}

/** Draws this batch's mix, applies it to x in place, and builds the soft targets. */
export function mixBatch(options: MixBatchOptions): MixedBatch {
  const { x, labels, seed, epoch, batchKey, numClasses = NUM_CLASSES, labelSmoothing = 0 } = options;
  validateMixOptions(options);
  const batch = labels.length;
  if (x.length !== batch * IMAGE_LEN) throw new BufferSizeError('x', x.length, batch * IMAGE_LEN, true);
  const rng = batchRandom(seed, epoch, batchKey, batchRng);
  const params = drawMixParams(rng, options, batch, options.out?.perm ?? new Int32Array(batch));
  const out = options.out?.targets;
  let targets: Float32Array;
  if (params.mode === 'none') {
    targets = softTargets({ labels, numClasses, labelSmoothing, out });
  } else {
    // Targets first: they validate the labels before x is touched.
    targets = mixedTargets({ labels, perm: params.perm, lam: params.lam, numClasses, labelSmoothing, out });
    if (params.mode === 'mixup') mixupInPlace(x, params.perm, params.lam);
    else cutmixInPlace(x, params.perm, params.box!);
  }
  return { ...params, x, targets };
}

const batchRng = new CounterRandom();
/** One saved image plus visited flags: enough to mix in place along the permutation's cycles. */
const savedImage = new Float32Array(IMAGE_LEN);
let visited = new Uint8Array(256);

type Blend = (dst: Float32Array, dstOffset: number, src: Float32Array, srcOffset: number) => void;

/**
 * Calls blend(x_i, x_perm[i]) with x_perm[i] still ORIGINAL for every i whose
 * partner is not itself. Walking each cycle i -> perm[i] -> ... updates x_i
 * while its partner is untouched; only the cycle's first image, needed last,
 * is saved. So in-place mixing costs one image of scratch, not a batch copy.
 */
function forEachPartner(x: Float32Array, perm: ArrayLike<number>, blend: Blend): void {
  const batch = perm.length;
  if (x.length !== batch * IMAGE_LEN) throw new BufferSizeError('x', x.length, batch * IMAGE_LEN, true);
  if (visited.length < batch) visited = new Uint8Array(batch);
  checkPermutation(perm, batch);
  visited.fill(0, 0, batch);
  for (let start = 0; start < batch; start++) {
    if (visited[start] === 1) continue;
    visited[start] = 1;
    if (perm[start] === start) continue;
    const startOffset = start * IMAGE_LEN;
    for (let k = 0; k < IMAGE_LEN; k++) savedImage[k] = x[startOffset + k]!;
    let i = start;
    for (;;) {
      const j = perm[i]!;
      if (j === start) {
        blend(x, i * IMAGE_LEN, savedImage, 0);
        break;
      }
      blend(x, i * IMAGE_LEN, x, j * IMAGE_LEN);
      visited[j] = 1;
      i = j;
    }
  }
}

function checkPermutation(perm: ArrayLike<number>, batch: number): void {
  visited.fill(0, 0, batch);
  for (let i = 0; i < batch; i++) {
    const j = perm[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= batch || visited[j] === 1) {
      throw new AugmentOptionError(`perm[${i}]`, j, `a permutation of 0..${batch - 1} (each position exactly once)`);
    }
    visited[j] = 1;
  }
}
