import * as tf from '@tensorflow/tfjs';
import { seededDropoutLayers } from '../../src/model/layers/seeded-dropout.js';
import { CheckpointError, readCheckpoint, writeCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import type { RunCheckpointState } from '../../src/training/checkpoint/run-checkpoint.js';
import { layoutLength, readWeights, writeWeights, type WeightSlice } from '../../src/training/flat-weights.js';
import type { SgdMomentum } from '../../src/training/sgd-momentum.js';

/**
 * The one-process trainer's checkpoint: the coordinator's file and arrays
 * (params and momentum in the flat weight layout, so BatchNorm statistics
 * are in params) with the trainer's cursor.
 *
 * What is not saved, because it is a pure function of (seed, epoch,
 * globalStep): the batches. The order is epochPermutation(seed, epoch), step
 * s of an epoch takes its positions s*batchSize.., each sample's crop, flip
 * and jitter are keyed by (seed, epoch, sample index), and Mixup/CutMix by
 * (seed, epoch, globalStep). The only other randomness, SeededDropout,
 * counts its calls (call k draws from deriveSeed(seed, k)): those counts are
 * the state's rng.
 */
export interface TrainerCheckpointState extends RunCheckpointState {
  writer: 'trainer';
  /** Steps of epochTotals.epoch done (stepsPerEpoch when epochDone). */
  step: number;
  /** Seconds spent training epochTotals.epoch so far, for its images/s after a resume. */
  epochSeconds: number;
  rng: { dropoutCalls: number[] };
}

/** The model and optimizer whose state a checkpoint holds. */
export interface TrainerModelState {
  model: tf.LayersModel;
  layout: readonly WeightSlice[];
  optimizer: SgdMomentum;
}

export async function writeTrainerCheckpoint(file: string, state: TrainerCheckpointState, m: TrainerModelState): Promise<void> {
  const length = layoutLength(m.layout);
  const params = readWeights(m.model, m.layout, new Float32Array(length));
  const momentum = new Float32Array(length);
  for (const { slice, variable } of variablesOf(m)) {
    const buffer = m.optimizer.momentumOf(variable.name);
    if (buffer) momentum.set(buffer.dataSync() as Float32Array, slice.offset);
  }
  await writeCheckpoint(file, state as unknown as Record<string, unknown>, { params, momentum });
}

/**
 * Reads a trainer checkpoint into the model (weights, BatchNorm statistics,
 * dropout counters) and the optimizer (momentum), and returns its state.
 * A checkpoint of another writer or model is refused naming the file.
 */
export async function readTrainerCheckpoint(
  file: string,
  m: TrainerModelState,
  expected: { stepsPerEpoch: number },
): Promise<TrainerCheckpointState> {
  const { header, arrays } = await readCheckpoint(file);
  const state = header.state as unknown as TrainerCheckpointState;
  if (state.writer !== 'trainer') {
    throw new CheckpointError(file, 'it was written by fleet coordinator (a distributed run): resume it with fleet coordinator --resume');
  }
  const length = layoutLength(m.layout);
  const { params, momentum } = arrays;
  for (const [name, values] of [
    ['params', params],
    ['momentum', momentum],
  ] as const) {
    if (values?.length !== length)
      throw new CheckpointError(file, `${name} has ${values?.length ?? 'no'} values, the model ${m.model.name} has ${length}`);
  }
  if (!Number.isInteger(state.step) || state.step < 0 || state.step > expected.stepsPerEpoch)
    throw new CheckpointError(file, `step ${state.step} is not a step of an epoch of ${expected.stepsPerEpoch}`);
  const dropout = seededDropoutLayers(m.model);
  const calls = state.rng?.dropoutCalls;
  if (!Array.isArray(calls) || calls.length !== dropout.length)
    throw new CheckpointError(file, `rng.dropoutCalls does not match the model's ${dropout.length} dropout layers`);

  writeWeights(m.model, m.layout, params!);
  for (const { slice, variable } of variablesOf(m)) {
    const values = tf.tensor(momentum!.slice(slice.offset, slice.offset + slice.length), slice.shape, 'float32');
    m.optimizer.setMomentum(variable.name, values);
    values.dispose();
  }
  for (const [i, layer] of dropout.entries()) layer.reseed(layer.seed, calls[i]);
  return state;
}

/** The dropout layers' call counts, for the state's rng. */
export function dropoutCalls(model: tf.LayersModel): number[] {
  return seededDropoutLayers(model).map((layer) => layer.step);
}

/** The trainable weights with their slices: the optimizer keys momentum by the live variable's name. */
function variablesOf(m: TrainerModelState): { slice: WeightSlice; variable: tf.Variable }[] {
  const byName = new Map(m.model.weights.map((w) => [w.originalName, w]));
  return m.layout.filter((slice) => slice.trainable).map((slice) => ({ slice, variable: byName.get(slice.name)!.read() as tf.Variable }));
}
