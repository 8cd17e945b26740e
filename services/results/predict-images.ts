import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/compute/index.js';
import { inferenceMetaSchema, loadModelFiles, readModelMeta, type InferenceMeta, type ModelInput } from '../../src/model/index.js';
import type { BackendChoice } from '../../src/runtime/config/train-config.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { ImageFileError, readRgbImage, type RgbImage } from './decode-image.js';

export interface ClassProbability {
  className: string;
  probability: number;
}

export interface ImagePrediction {
  image: string;
  /** The most probable classes, most probable first. */
  top: ClassProbability[];
}

export interface PredictOptions {
  modelDir: string;
  images: readonly string[];
  top: number;
  backend: BackendChoice;
}

/**
 * `fleet predict`: a saved model's most probable classes for each image, the
 * image normalised as its meta.json says. Images are not resized: one of
 * another size than the model's input is refused, naming it. Every image is
 * decoded and checked before the model is loaded.
 */
export async function predictImages(o: PredictOptions, log: Logger): Promise<ImagePrediction[]> {
  const meta = await readInferenceMeta(o.modelDir);
  const [height, width, channels] = meta.input.shape;
  if (channels !== 3) throw new FleetError(`${o.modelDir}/meta.json: input of ${channels} channels; fleet predict reads RGB images`);
  const images: RgbImage[] = [];
  for (const file of o.images) {
    const image = await readRgbImage(file);
    if (image.width !== width || image.height !== height) {
      throw new ImageFileError(file, `is ${image.width}x${image.height}; this model takes ${width}x${height} images (resize it first)`);
    }
    images.push(image);
  }
  await selectBackend(o.backend, log, {});
  const model = await loadModelFiles(o.modelDir);
  const probabilities = tf.tidy(() => {
    const x = tf.tensor4d(normalise(images, meta.input), [images.length, height, width, channels]);
    return (tf.softmax(model.predict(x) as tf.Tensor2D) as tf.Tensor2D).arraySync();
  });
  model.dispose();
  return probabilities.map((p, i) => ({ image: o.images[i]!, top: topClasses(p, meta.classNames, o.top) }));
}

/** HWC bytes to the model's input: byte * pixelScale, then (value - mean[c]) / std[c] per channel. */
export function normalise(images: readonly RgbImage[], input: ModelInput): Float32Array {
  const size = images[0] ? images[0].rgb.length : 0;
  const out = new Float32Array(images.length * size);
  images.forEach((image, n) => {
    for (let i = 0; i < size; i++) {
      const c = i % 3;
      out[n * size + i] = (image.rgb[i]! * input.pixelScale - (input.mean[c] ?? input.mean[0]!)) / (input.std[c] ?? input.std[0]!);
    }
  });
  return out;
}

function topClasses(probabilities: readonly number[], classNames: readonly string[], n: number): ClassProbability[] {
  return probabilities
    .map((probability, c) => ({ className: classNames[c] ?? String(c), probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, n);
}

async function readInferenceMeta(modelDir: string): Promise<InferenceMeta> {
  const value = await readModelMeta(modelDir);
  if (value === undefined) throw new FleetError(`${modelDir} holds no meta.json: not a saved fleet model (a run's best/ is one)`);
  const parsed = inferenceMetaSchema.safeParse(value);
  if (!parsed.success) {
    throw new FleetError(`${modelDir}/meta.json is not a fleet model's: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
