import { selectBackend } from '../../src/compute/index.js';
import { loadCifar10Split, resolveBatchesDir } from '../../src/dataset/index.js';
import { cifar10Input, inferenceMetaSchema, loadModelFiles, readModelMeta, type InferenceMeta } from '../../src/model/index.js';
import type { BackendChoice } from '../../src/runtime/config/train-config.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { scoreTestSet, type Evaluation } from '../../src/training/evaluate.js';
import { classTables, percent, scoreSummary } from '../../src/training/run-record/score-tables.js';

export interface ScoreSavedModelOptions {
  /** A saved model's folder: model.json, weights.bin, meta.json (a run's best/). */
  modelDir: string;
  dataDir: string;
  backend: BackendChoice;
  threads: number | null;
  batchSize: number;
  limitTest: number | null;
}

export interface SavedModelScore {
  modelDir: string;
  backend: string;
  meta: InferenceMeta;
  evaluation: Evaluation;
}

/**
 * `fleet eval`: a saved model scored on the test set with the kernels and
 * the scoring of training (scoreTestSet), so its accuracy is the one its
 * meta.json recorded. The input normalisation comes from meta.json and must
 * be the one fleet trains with: a model saved for another input is refused.
 */
export async function scoreSavedModel(o: ScoreSavedModelOptions, log: Logger): Promise<SavedModelScore> {
  const parsed = inferenceMetaSchema.safeParse(await readModelMeta(o.modelDir));
  if (!parsed.success) {
    throw new FleetError(`${o.modelDir}/meta.json is not a fleet model's: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  const meta = parsed.data;
  if (JSON.stringify(meta.input) !== JSON.stringify(cifar10Input())) {
    throw new FleetError(
      `${o.modelDir}/meta.json: input ${JSON.stringify(meta.input)} is not the CIFAR-10 normalisation fleet scores with`,
    );
  }
  const backend = await selectBackend(o.backend, log, { threads: o.threads });
  const model = await loadModelFiles(o.modelDir);
  const dir = await resolveBatchesDir(o.dataDir);
  const test = await loadCifar10Split({ dir, split: 'test', allowPartial: false, limit: o.limitTest ?? undefined });
  log.info({ model: meta.model, modelDir: o.modelDir, test: test.count }, 'scoring');
  const evaluation = await scoreTestSet(model, test, { batchSize: o.batchSize });
  model.dispose();
  return { modelDir: o.modelDir, backend: backend.name, meta, evaluation };
}

/** The score as a person reads it: accuracy and loss, the weakest classes, each class's accuracy, the confusion matrix. */
export function formatScore(s: SavedModelScore): string {
  const { evaluation: e, meta } = s;
  const scores = { classNames: meta.classNames, perClassAccuracy: e.perClassAccuracy, confusion: e.confusion };
  const lines = [
    `${s.modelDir}: ${meta.model} on ${e.count} test images (${s.backend})`,
    `accuracy ${percent(e.accuracy)}  loss ${e.loss.toFixed(4)}`,
    ...scoreSummary(scores),
    '',
    ...classTables(scores),
  ];
  return `${lines.join('\n')}\n`;
}
