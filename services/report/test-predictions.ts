import * as tf from '@tensorflow/tfjs';
import type { ModelInput } from '../../src/model/index.js';

export interface TestPredictions {
  /** The most probable class of each image. */
  predicted: Int32Array;
  /** Its softmax probability: the model's confidence. */
  confidence: Float32Array;
}

export interface Mistake {
  /** The image's index in the test split. */
  index: number;
  trueClass: number;
  predicted: number;
  confidence: number;
}

/**
 * A saved model's answer for every test image, the bytes normalised as its
 * meta.json says (pixelScale, then per-channel mean and std), in batches.
 */
export async function predictTestSet(
  model: tf.LayersModel,
  test: { images: Uint8Array; count: number },
  input: ModelInput,
  batchSize = 250,
): Promise<TestPredictions> {
  const [h, w, c] = input.shape;
  const size = h * w * c;
  const predicted = new Int32Array(test.count);
  const confidence = new Float32Array(test.count);
  for (let start = 0; start < test.count; start += batchSize) {
    const n = Math.min(batchSize, test.count - start);
    const x = normalised(test.images.subarray(start * size, (start + n) * size), input);
    const [best, p] = tf.tidy(() => {
      const probabilities = tf.softmax(model.predict(tf.tensor4d(x, [n, h, w, c])) as tf.Tensor2D);
      return [tf.argMax(probabilities, -1).dataSync(), tf.max(probabilities, -1).dataSync()];
    });
    predicted.set(best as Int32Array, start);
    confidence.set(p as Float32Array, start);
    // A long scoring still lets logs flush and signals land.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { predicted, confidence };
}

/** byte * pixelScale, then (value - mean[channel]) / std[channel], HWC. */
export function normalised(bytes: Uint8Array, input: ModelInput): Float32Array {
  const channels = input.shape[2];
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const ch = i % channels;
    out[i] = (bytes[i]! * input.pixelScale - (input.mean[ch] ?? input.mean[0]!)) / (input.std[ch] ?? input.std[0]!);
  }
  return out;
}

/** The `n` misclassified images of `trueClass` the model was surest of, surest first. */
export function surestMistakes(p: TestPredictions, labels: Uint8Array, trueClass: number, n: number): Mistake[] {
  const found: Mistake[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === trueClass && p.predicted[i] !== trueClass) {
      found.push({ index: i, trueClass, predicted: p.predicted[i]!, confidence: p.confidence[i]! });
    }
  }
  return found.sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, n);
}
