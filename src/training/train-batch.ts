import { augmentBatch, mixBatch, normalizeBatch, softTargets, type AugmentedBatch } from '../augment/index.js';
import type { TrainConfig } from '../runtime/config/train-config.js';
import { IMAGE_LEN } from '../augment/index.js';

export interface TrainBatch {
  /** [B, 32, 32, 3] normalised, augmented and possibly mixed pixels. */
  x: Float32Array;
  /** [B, classes] soft targets (label smoothing, Mixup, CutMix folded in). */
  targets: Float32Array;
  /** [B] the primary labels, for training accuracy. */
  labels: Int32Array;
}

/**
 * Turns a list of training indices into a ready batch. Buffers are reused
 * across steps: augmentation writes into them, so a step allocates nothing
 * here but the tensors the backend copies the batch into.
 */
export class TrainBatchMaker {
  // Set by allocate(), from the constructor on.
  private augmented!: AugmentedBatch;
  private targets!: Float32Array;
  private perm!: Int32Array;

  constructor(
    private readonly split: { images: Uint8Array; labels: Uint8Array },
    private readonly config: Pick<TrainConfig, 'augment' | 'mixupAlpha' | 'cutmixAlpha' | 'labelSmoothing' | 'seed' | 'batchSize'>,
    private readonly numClasses: number,
  ) {
    this.allocate(config.batchSize);
  }

  private allocate(b: number): void {
    this.augmented = { x: new Float32Array(b * IMAGE_LEN), labels: new Int32Array(b) };
    this.targets = new Float32Array(b * this.numClasses);
    this.perm = new Int32Array(b);
  }

  /** `batchKey` (the global step) seeds the batch-level Mixup/CutMix draw. */
  make(indices: ArrayLike<number>, epoch: number, batchKey: number): TrainBatch {
    this.fit(indices.length);
    this.augmentRange(indices, epoch, 0, indices.length);
    return this.finish(indices.length, epoch, batchKey);
  }

  /**
   * make() in slices of `slice` images, awaiting `between()` after each, so
   * the event loop runs while the batch is made (a worker's download in
   * flight). The same batch as make(), to the bit: each image's augmentation
   * is keyed by (seed, epoch, index), not by its position or its slice, and
   * Mixup/CutMix run once on the whole batch at the end. The buffers are the
   * same as make()'s: nothing else may make a batch meanwhile.
   */
  async makeInSlices(
    indices: ArrayLike<number>,
    epoch: number,
    batchKey: number,
    o: { slice: number; between: () => Promise<void> },
  ): Promise<TrainBatch> {
    const n = indices.length;
    this.fit(n);
    for (let start = 0; start < n; start += o.slice) {
      this.augmentRange(indices, epoch, start, Math.min(n, start + o.slice));
      await o.between();
    }
    return this.finish(n, epoch, batchKey);
  }

  /** A balanced round (--balance speed) may hand this worker more than --batch-size. */
  private fit(n: number): void {
    if (n > this.perm.length) this.allocate(n);
  }

  /** Images [start, end) of the batch, decoded and augmented into their places. */
  private augmentRange(indices: ArrayLike<number>, epoch: number, start: number, end: number): void {
    const { x, labels } = this.augmented;
    augmentBatch({
      images: this.split.images,
      labels: this.split.labels,
      indices: start === 0 && end === indices.length ? indices : (Array.prototype.slice.call(indices, start, end) as number[]),
      epoch,
      seed: this.config.seed,
      preset: this.config.augment,
      out: { x: x.subarray(start * IMAGE_LEN, end * IMAGE_LEN), labels: labels.subarray(start, end) },
    });
  }

  /** Targets (and Mixup/CutMix) of the first `n` images, once all are in place. */
  private finish(n: number, epoch: number, batchKey: number): TrainBatch {
    const { config, numClasses } = this;
    const x = this.augmented.x.subarray(0, n * IMAGE_LEN);
    const labels = this.augmented.labels.subarray(0, n);
    const targetsOut = this.targets.subarray(0, n * numClasses);
    const mixing = config.mixupAlpha > 0 || config.cutmixAlpha > 0;
    if (!mixing) {
      return { x, labels, targets: softTargets({ labels, numClasses, labelSmoothing: config.labelSmoothing, out: targetsOut }) };
    }
    const mixed = mixBatch({
      x,
      labels,
      seed: config.seed,
      epoch,
      batchKey,
      numClasses,
      labelSmoothing: config.labelSmoothing,
      ...(config.mixupAlpha > 0 ? { mixupAlpha: config.mixupAlpha } : {}),
      ...(config.cutmixAlpha > 0 ? { cutmixAlpha: config.cutmixAlpha } : {}),
      out: { targets: targetsOut, perm: this.perm.subarray(0, n) },
    });
    return { x: mixed.x, labels, targets: mixed.targets };
  }
}

/** Evaluation batches: normalisation only, in split order. */
export function testBatches(split: { images: Uint8Array; labels: Uint8Array }): (start: number, end: number) => Float32Array {
  const indices = (start: number, end: number) => Uint32Array.from({ length: end - start }, (_, i) => start + i);
  return (start, end) => normalizeBatch({ images: split.images, labels: split.labels, indices: indices(start, end) }).x;
}
