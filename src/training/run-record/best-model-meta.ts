import { z } from 'zod';
import { NUM_CLASSES } from '../../dataset/cifar10-constants.js';
import { cifar10Input, inferenceMetaSchema } from '../../model/index.js';
import { runConfigFields } from '../../runtime/config/run-config.js';
import { runConfigOf, type TrainConfig } from '../../runtime/config/train-config.js';
import type { Evaluation } from '../evaluate.js';
import { perClassAccuracyOf } from './metrics-line.js';

const fraction = z.number().min(0).max(1);

/** best/meta.json: what inference needs, and which parameters of the run these are and how they scored. */
export const bestModelMetaSchema = inferenceMetaSchema
  .extend({
    epoch: z.number().int().min(1),
    step: z.number().int().min(0),
    /** The parameter version (distributed runs). */
    version: z.number().int().min(0).optional(),
    accuracy: fraction,
    loss: z.number().finite(),
    perClassAccuracy: z.array(fraction.nullable()).length(NUM_CLASSES),
    /** The run's configuration, as config.json keeps it. */
    config: runConfigFields.strict(),
  })
  .strict();

export type BestModelMeta = z.infer<typeof bestModelMetaSchema>;

export function bestModelMeta(o: {
  config: TrainConfig;
  classNames: readonly string[];
  evaluation: Evaluation;
  epoch: number;
  step: number;
  version?: number;
}): BestModelMeta {
  return {
    model: o.config.model,
    classNames: [...o.classNames],
    input: cifar10Input(),
    epoch: o.epoch,
    step: o.step,
    ...(o.version !== undefined ? { version: o.version } : {}),
    accuracy: o.evaluation.accuracy,
    loss: o.evaluation.loss,
    perClassAccuracy: perClassAccuracyOf(o.evaluation),
    config: runConfigOf(o.config),
  };
}
