import * as tf from '@tensorflow/tfjs';
import { IMAGE_SHAPE, NUM_CLASSES } from '../../../src/dataset/cifar10-constants.js';
import { deriveSeed, reseedDropout } from '../../../src/model/index.js';
import { readGradientContribution, readWeights, type WeightSlice } from '../../../src/training/flat-weights.js';
import type { SgdMomentum } from '../../../src/training/sgd-momentum.js';
import type { TrainBatch, TrainBatchMaker } from '../../../src/training/train-batch.js';
import { computeGradients } from '../../../src/training/train-step.js';
import type { RoundWork } from '../../../src/exchange/round-work.js';

export interface RoundResult {
  sampleCount: number;
  lossSum: number;
  correct: number;
}

export interface WorkerModel {
  model: tf.LayersModel;
  params: Map<string, tf.Variable>;
  layout: WeightSlice[];
  batches: TrainBatchMaker;
}

/** The Mixup/CutMix key of local step `k` of a round: unique per (global step, member). */
function batchKeyOf(work: Omit<RoundWork, 'version'>, k: number): number {
  return (work.globalStep + k) * 4096 + work.memberIndex;
}

/** A round's first batch made ahead of trainRound (prefetchFirstBatch), with what it was made for. */
export interface PrefetchedBatch {
  round: number;
  batch: TrainBatch;
}

/** Images per slice of a prefetched batch: a slice's augmentation takes about a millisecond on the build machines. */
const PREFETCH_SLICE = 16;

/**
 * The round's first batch, made in slices between which the event loop runs:
 * started with a download in flight, its chunks are taken in while the batch
 * is made. trainRound takes it as is (the same batch it would make: the same
 * maker, indices, epoch and key); nothing may make a batch in between.
 */
export async function prefetchFirstBatch(worker: WorkerModel, work: Omit<RoundWork, 'version'>): Promise<PrefetchedBatch | null> {
  const first = work.batches[0];
  if (!first) return null;
  const batch = await worker.batches.makeInSlices(first.indices, work.epoch, batchKeyOf(work, 0), {
    slice: PREFETCH_SLICE,
    between: () => new Promise((resolve) => setImmediate(resolve)),
  });
  return { round: work.round, batch };
}

/**
 * A worker's share of a round, written into `out` (the model's flat layout):
 * - one step, `gradients`: the batch's mean gradient (BatchNorm statistics as
 *   values), for the coordinator to average and apply;
 * - K steps, `parameters`: local SGD with the given rates, then the weights.
 * The local optimizer (momentum buffers) persists across rounds of local SGD.
 * Yields to the event loop between local steps.
 */
export async function trainRound(
  worker: WorkerModel,
  work: Omit<RoundWork, 'version'>,
  mode: { kind: 'gradients' } | { kind: 'parameters'; optimizer: SgdMomentum },
  out: Float32Array,
  /** A frozen phase (--freeze-epochs): what trains, the mode the model runs in, and the slices of `out` (gradients only). */
  trainable?: { params: ReadonlyMap<string, tf.Variable>; training: boolean; slices: readonly WeightSlice[] },
  /** The round's first batch, made while the parameters downloaded (prefetchFirstBatch). */
  prefetched?: PrefetchedBatch | null,
): Promise<RoundResult> {
  if (prefetched && prefetched.round !== work.round)
    throw new RangeError(`batch prefetched for round ${prefetched.round}, not ${work.round}`);
  if (trainable && mode.kind !== 'gradients') throw new RangeError('a frozen phase exchanges gradients only (--sync-every 1)');
  if (mode.kind === 'gradients' && work.batches.length !== 1) {
    throw new RangeError(`gradient rounds take exactly one batch, got ${work.batches.length}`);
  }
  reseedDropout(worker.model, deriveSeed(deriveSeed(0x5eed, work.globalStep), work.memberIndex));
  const result: RoundResult = { sampleCount: 0, lossSum: 0, correct: 0 };
  for (const [k, batch] of work.batches.entries()) {
    // Between local steps the event loop runs: heartbeats go out during a long round.
    if (k > 0) await new Promise((resolve) => setImmediate(resolve));
    const n = batch.indices.length;
    const made = k === 0 && prefetched ? prefetched.batch : worker.batches.make(batch.indices, work.epoch, batchKeyOf(work, k));
    // The batch buffers are reused by the next make(): the tensors die with this tidy first.
    tf.tidy(() => {
      const x = tf.tensor4d(made.x, [n, ...IMAGE_SHAPE]);
      const targets = tf.tensor2d(made.targets, [n, NUM_CLASSES]);
      const step = computeGradients(
        worker.model,
        trainable?.params ?? worker.params,
        { x, targets, labels: made.labels },
        { training: trainable?.training ?? true },
      );
      result.lossSum += step.loss * n;
      result.correct += step.correct;
      if (mode.kind === 'gradients') readGradientContribution(worker.model, trainable?.slices ?? worker.layout, step.grads, out);
      else mode.optimizer.apply(worker.params, step.grads, batch.lr);
    });
    result.sampleCount += n;
  }
  if (mode.kind === 'parameters') readWeights(worker.model, worker.layout, out);
  return result;
}
