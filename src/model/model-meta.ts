import { z } from 'zod';
import { CIFAR10_MEAN, CIFAR10_STD, IMAGE_SHAPE, NUM_CLASSES } from '../dataset/cifar10-constants.js';

/**
 * How a raw image becomes the model's input: bytes of an HWC image times
 * `pixelScale`, then (value - mean[channel]) / std[channel], batched NHWC.
 */
export const modelInputSchema = z.object({
  shape: z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]),
  layout: z.literal('NHWC'),
  pixelScale: z.number().positive(),
  mean: z.array(z.number()).min(1),
  std: z.array(z.number().positive()).min(1),
});

export type ModelInput = z.infer<typeof modelInputSchema>;

/** The part of a saved model's meta.json that inference needs: which network, its input, its output classes. */
export const inferenceMetaSchema = z.object({
  model: z.string().min(1),
  classNames: z.array(z.string().min(1)).length(NUM_CLASSES),
  input: modelInputSchema,
});

export type InferenceMeta = z.infer<typeof inferenceMetaSchema>;

/** The input every fleet model is trained on (the normalisation augment/ applies). */
export function cifar10Input(): ModelInput {
  return { shape: [...IMAGE_SHAPE], layout: 'NHWC', pixelScale: 1 / 255, mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
}
