import * as tf from '@tensorflow/tfjs';
import { FleetError } from '../runtime/errors.js';

/**
 * Where one weight lives in a model's flat float32 buffer: the layout the
 * trainer, the workers, the coordinator's optimizer and the wire
 * (exchange/entriesOf) share.
 */
export interface WeightSlice {
  name: string;
  shape: number[];
  /** False for BatchNorm moving statistics: averaged, never optimized. */
  trainable: boolean;
  /** In floats. */
  offset: number;
  /** In floats: the product of `shape`. */
  length: number;
}

export class WeightLayoutError extends FleetError {
  constructor(
    message: string,
    readonly weight: string,
  ) {
    super(message);
  }
}

/**
 * Every weight of a model (trainable and BatchNorm statistics) laid out in
 * one flat float32 buffer, sorted by name. Names are the weights' original
 * names ('block1_conv1/kernel'), which are the same in every process; tfjs
 * may suffix the live variable names when a process builds two models.
 */
export function weightLayout(model: tf.LayersModel): WeightSlice[] {
  const weights = model.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[], trainable: w.trainable }));
  weights.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let offset = 0;
  return weights.map((w, i) => {
    if (i > 0 && weights[i - 1]!.name === w.name) throw new WeightLayoutError(`two weights are named ${w.name}`, w.name);
    const length = w.shape.reduce((a, b) => a * b, 1);
    const slice = { ...w, offset, length };
    offset += length;
    return slice;
  });
}

export function layoutLength(layout: readonly WeightSlice[]): number {
  const last = layout[layout.length - 1];
  return last ? last.offset + last.length : 0;
}

function weightsByName(model: tf.LayersModel): Map<string, tf.LayerVariable> {
  return new Map(model.weights.map((w) => [w.originalName, w]));
}

/** Copies the model's current weights into `into` at the layout's offsets. */
export function readWeights(model: tf.LayersModel, layout: readonly WeightSlice[], into: Float32Array): Float32Array {
  const byName = weightsByName(model);
  for (const slice of layout) {
    const weight = byName.get(slice.name);
    if (!weight) throw new WeightLayoutError(`the model has no weight ${slice.name}`, slice.name);
    into.set(weight.read().dataSync() as Float32Array, slice.offset);
  }
  return into;
}

/**
 * Sets the model's weights from a flat buffer. Each value is copied: the cpu
 * backend keeps a typed array it is given, so a view would alias the buffer.
 */
export function writeWeights(model: tf.LayersModel, layout: readonly WeightSlice[], from: Float32Array): void {
  const byName = weightsByName(model);
  for (const slice of layout) {
    const weight = byName.get(slice.name);
    if (!weight) throw new WeightLayoutError(`the model has no weight ${slice.name}`, slice.name);
    const values = tf.tensor(from.slice(slice.offset, slice.offset + slice.length), slice.shape, 'float32');
    weight.write(values);
    values.dispose();
  }
}

/**
 * A worker's contribution for synchronous SGD: the gradients of trainable
 * weights and the current values of the others (BatchNorm moving statistics,
 * which the coordinator averages).
 */
export function readGradientContribution(
  model: tf.LayersModel,
  layout: readonly WeightSlice[],
  grads: tf.NamedTensorMap,
  into: Float32Array,
): Float32Array {
  const byName = weightsByName(model);
  for (const slice of layout) {
    const weight = byName.get(slice.name);
    if (!weight) throw new WeightLayoutError(`the model has no weight ${slice.name}`, slice.name);
    if (!slice.trainable) {
      into.set(weight.read().dataSync() as Float32Array, slice.offset);
      continue;
    }
    const grad = grads[(weight.read() as tf.Variable).name];
    if (!grad) throw new WeightLayoutError(`no gradient for ${slice.name}`, slice.name);
    into.set(grad.dataSync() as Float32Array, slice.offset);
  }
  return into;
}
