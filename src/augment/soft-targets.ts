/**
 * Soft targets for soft-target cross-entropy, [B, numClasses] row-major.
 * Label smoothing s turns onehot(y) into y*(1-s) + s/K. A mixed row is
 * lam*smooth(y_a) + (1-lam)*smooth(y_b); since CE is linear in the target,
 * its loss equals lam*CE(y_a) + (1-lam)*CE(y_b). Every row sums to 1.
 */
import { NUM_CLASSES } from '../dataset/cifar10-constants.js';
import { AugmentOptionError, BufferSizeError, LabelRangeError } from './errors.js';
import { requireNumClasses, requireSmoothing } from './validate.js';

export interface SoftTargetOptions {
  labels: ArrayLike<number>;
  /** Default 10. */
  numClasses?: number;
  /** In [0, 1); default 0. */
  labelSmoothing?: number;
  /** Reused output, exactly labels.length * numClasses long. */
  out?: Float32Array;
}

export interface MixedTargetOptions extends SoftTargetOptions {
  /** perm[i] is the batch position whose label mixes into row i. */
  perm: ArrayLike<number>;
  /** Weight of the row's own label, in [0, 1]. */
  lam: number;
}

export function softTargets(options: SoftTargetOptions): Float32Array {
  return writeTargets(options, null, 1);
}

export function mixedTargets(options: MixedTargetOptions): Float32Array {
  const { lam, perm, labels } = options;
  if (!Number.isFinite(lam) || lam < 0 || lam > 1) throw new AugmentOptionError('lam', lam, 'a number in [0, 1]');
  if (perm.length !== labels.length) throw new BufferSizeError('perm', perm.length, labels.length, true);
  return writeTargets(options, perm, lam);
}

function writeTargets(options: SoftTargetOptions, perm: ArrayLike<number> | null, lam: number): Float32Array {
  const { labels, numClasses = NUM_CLASSES, labelSmoothing = 0 } = options;
  requireNumClasses(numClasses);
  requireSmoothing('labelSmoothing', labelSmoothing);
  const batch = labels.length;
  const out = options.out ?? new Float32Array(batch * numClasses);
  if (out.length !== batch * numClasses) throw new BufferSizeError('targets out', out.length, batch * numClasses, true);
  const floor = labelSmoothing / numClasses;
  const peak = 1 - labelSmoothing;
  out.fill(floor);
  for (let i = 0; i < batch; i++) {
    const own = checkedLabel(labels[i]!, i, numClasses);
    const row = i * numClasses;
    if (perm === null) {
      out[row + own] = floor + peak;
      continue;
    }
    const j = perm[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= batch) throw new AugmentOptionError(`perm[${i}]`, j, `a batch position 0..${batch - 1}`);
    const other = checkedLabel(labels[j]!, j, numClasses);
    // Accumulate in double, store once, so equal labels give exactly floor + peak.
    if (own === other) {
      out[row + own] = floor + peak;
    } else {
      out[row + own] = floor + lam * peak;
      out[row + other] = floor + (1 - lam) * peak;
    }
  }
  return out;
}

function checkedLabel(label: number, position: number, numClasses: number): number {
  if (!Number.isInteger(label) || label < 0 || label >= numClasses) throw new LabelRangeError(label, position, numClasses);
  return label;
}
