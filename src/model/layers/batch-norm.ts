import * as tf from '@tensorflow/tfjs';

/** Options of a BatchNorm layer, PyTorch defaults (momentum 0.1 there = 0.9 here). */
export interface BatchNormOptions {
  name?: string;
  momentum?: number;
  epsilon?: number;
}

/** The stock layer's state we read; its fields are not in tfjs's public typings. */
interface StockBatchNormState {
  momentum: number;
  epsilon: number;
  axis: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

interface StockBatchNormArgs {
  name?: string;
  axis?: number;
  momentum?: number;
  epsilon?: number;
}

type Kwargs = Record<string, unknown>;

// tfjs does not export the class itself; take it from an instance.
const StockBatchNormalization = Object.getPrototypeOf(tf.layers.batchNormalization({})).constructor as new (
  args: StockBatchNormArgs,
) => tf.layers.Layer;

/**
 * tfjs's BatchNormalization with a closed-form training backward. tfjs builds
 * the training gradient through moments + batchNorm (two extra reductions and
 * a Tile per layer); here tf.customGrad gives it directly:
 *   dbeta = sum(dy), dgamma = sum(dy * xhat),
 *   dx = gamma * rstd / N * (N * dy - dbeta - xhat * dgamma).
 * The moving variance is updated with the unbiased batch variance, as
 * PyTorch does. Same className, weights and config as tfjs's layer, so a
 * saved model loads with plain tf.loadLayersModel (as the stock layer, which
 * infers identically from the moving statistics).
 */
export class ClosedFormBatchNorm extends StockBatchNormalization {
  static className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    if (kwargs.training !== true) return super.call(inputs, kwargs);
    const state = this as unknown as StockBatchNormState;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x === undefined) throw new TypeError(`${this.name}: no input`);
    const rank = x.shape.length;
    const axis = state.axis < 0 ? state.axis + rank : state.axis;
    if (axis !== rank - 1) throw new TypeError(`${this.name}: closed-form BatchNorm supports the last axis only, got axis ${state.axis}`);
    const channels = x.shape[axis] as number;
    return tf.tidy(() => {
      const gamma = state.gamma?.read() ?? tf.ones([channels]);
      const beta = state.beta?.read() ?? tf.zeros([channels]);
      const { y, mean, variance } = normalizeInTraining(x, gamma, beta, state.epsilon);
      const count = x.size / channels;
      // PyTorch keeps the unbiased variance in its running statistics.
      const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
      updateMovingAverage(state.movingMean, mean, state.momentum);
      updateMovingAverage(state.movingVariance, unbiased, state.momentum);
      return y;
    });
  }
}

/** moving = momentum * moving + (1 - momentum) * value (Keras momentum). */
function updateMovingAverage(variable: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const current = variable.read();
    variable.write(tf.sub(current, tf.mul(tf.sub(current, value), 1 - momentum)));
  });
}

/**
 * Batch statistics over every axis but the last, normalisation, and the
 * closed-form gradient. The statistics are computed outside the customGrad so
 * the tape never differentiates through them (the closed form already covers
 * their contribution to dx).
 */
function normalizeInTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes) as { mean: tf.Tensor1D; variance: tf.Tensor1D };
  const count = x.size / (x.shape[x.shape.length - 1] as number);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, gammaIn, betaIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const value = tf.batchNorm(xIn, mean, variance, betaIn as tf.Tensor1D, gammaIn as tf.Tensor1D, epsilon);
    save([xIn, gammaIn, mean, variance, rstd]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xs, g, m, v, r] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
      const xhat = tf.batchNorm(xs, m, v, undefined, undefined, epsilon);
      const dbeta = tf.sum(dy, axes);
      const dgamma = tf.sum(tf.mul(dy, xhat), axes);
      // dx = a * dy + (x - mean) * rstd * s + c, with per-channel
      // a = gamma * rstd, s = -a * dgamma / N, c = -a * dbeta / N: the last two
      // terms are one batchNorm kernel over x.
      const a = tf.mul(g, r);
      const s = tf.div(tf.mul(tf.neg(a), dgamma), count) as tf.Tensor1D;
      const c = tf.div(tf.mul(tf.neg(a), dbeta), count) as tf.Tensor1D;
      const dx = tf.add(tf.mul(dy, a), tf.batchNorm(xs, m, v, c, s, epsilon));
      return [dx, dgamma, dbeta];
    };
    return { value, gradFunc };
  });
  return { y: op(x, gamma, beta), mean, variance };
}

/**
 * BatchNorm over the channel axis of an NHWC tensor (or the features of [B, F]),
 * PyTorch semantics: momentum 0.1 (0.9 in Keras terms), eps 1e-5.
 */
export function batchNorm(options: BatchNormOptions = {}): tf.layers.Layer {
  return new ClosedFormBatchNorm({
    axis: -1,
    momentum: options.momentum ?? 0.9,
    epsilon: options.epsilon ?? 1e-5,
    ...(options.name ? { name: options.name } : {}),
  });
}
