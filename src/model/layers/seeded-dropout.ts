import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../seeds.js';

/** Mask shape with `null` = "size of that input axis" (Keras' noise_shape convention). */
export type NoiseShape = ReadonlyArray<number | null>;

/** Noise shape of PyTorch's Dropout2d on NHWC: one keep/drop flag per (sample, channel). */
export const SPATIAL_2D_NOISE_SHAPE: NoiseShape = [null, 1, 1, null];

export interface SeededDropoutArgs {
  rate: number;
  noiseShape?: NoiseShape | null;
  seed?: number | null;
  name?: string;
}

/**
 * Dropout whose masks are reproducible yet differ from step to step.
 *
 * Why not tf.layers.dropout({seed}): tfjs feeds the same seed to every call, so a
 * seeded stock Dropout draws the *same* mask on every training step. Here call k
 * uses deriveSeed(seed, k). Unseeded, it draws fresh masks like stock Dropout.
 *
 * Serialisation: it saves as a stock 'Dropout' (rate + noiseShape, no seed), so
 * a model.json reloads with plain tf.loadLayersModel, no registration needed:
 * the same channel-wise dropout in training (fresh unseeded masks) and identity
 * in inference. The seed travels in the model's user metadata instead and
 * loadModelFiles restores this class (it is registered as 'SeededDropout' for that).
 */
export class SeededDropout extends tf.layers.Layer {
  static readonly className = 'SeededDropout';

  readonly rate: number;
  readonly noiseShape: NoiseShape | null;
  private seedValue: number | null;
  private calls = 0;

  constructor(args: SeededDropoutArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    if (!(args.rate >= 0 && args.rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.noiseShape = args.noiseShape ?? null;
    this.seedValue = args.seed ?? null;
    this.supportsMasking = true;
  }

  /** Current seed (null = unseeded). */
  get seed(): number | null {
    return this.seedValue;
  }

  /** Training calls made so far; call k draws its mask from deriveSeed(seed, k). */
  get step(): number {
    return this.calls;
  }

  /** Restart the mask sequence, e.g. to give each worker its own dropout stream. */
  reseed(seed: number | null, step = 0): void {
    this.seedValue = seed;
    this.calls = step;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    if (input === undefined) throw new TypeError(`${this.name}: expected one input tensor`);
    if (kwargs.training !== true || this.rate === 0) return input;
    const maskShape = this.maskShape(input.shape);
    const seed = this.seedValue === null ? undefined : deriveSeed(this.seedValue, this.calls);
    this.calls += 1;
    const keep = 1 - this.rate;
    return tf.tidy(() => {
      // floor(U[0,1) + keep) is 1 with probability keep: the same trick tf.dropout uses.
      const mask = tf.floor(tf.add(tf.randomUniform(maskShape, 0, 1, 'float32', seed), keep));
      return tf.mul(input, tf.div(mask, keep));
    });
  }

  private maskShape(inputShape: number[]): number[] {
    if (this.noiseShape === null) return inputShape;
    if (this.noiseShape.length !== inputShape.length) {
      throw new RangeError(`${this.name}: noiseShape rank ${this.noiseShape.length} != input rank ${inputShape.length}`);
    }
    return inputShape.map((size, axis) => this.noiseShape?.[axis] ?? size);
  }

  /** Saved as a stock Dropout: see the class comment. */
  override getClassName(): string {
    return 'Dropout';
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      rate: this.rate,
      noiseShape: this.noiseShape === null ? null : [...this.noiseShape],
      ...super.getConfig(),
    };
  }
}
tf.serialization.registerClass(SeededDropout);

/** Plain (element-wise) dropout, PyTorch nn.Dropout. */
export function seededDropout(options: { rate: number; seed?: number | null; name?: string }): SeededDropout {
  return new SeededDropout({ ...options, noiseShape: null });
}

/** PyTorch nn.Dropout2d on NHWC: zeroes whole channels of each sample. */
export function spatialDropout2d(options: { rate: number; seed?: number | null; name?: string }): SeededDropout {
  return new SeededDropout({ ...options, noiseShape: SPATIAL_2D_NOISE_SHAPE });
}

/** The model's SeededDropout layers, in layer order. */
export function seededDropoutLayers(model: tf.LayersModel): SeededDropout[] {
  return model.layers.filter((layer): layer is SeededDropout => layer instanceof SeededDropout);
}

/**
 * Reseed every SeededDropout of a model from one seed (layer i gets
 * deriveSeed(seed, i)). Workers built from the same model seed share dropout
 * masks until they call this with, e.g., a per-worker seed.
 */
export function reseedDropout(model: tf.LayersModel, seed: number): void {
  for (const [i, layer] of seededDropoutLayers(model).entries()) layer.reseed(deriveSeed(seed, i));
}
