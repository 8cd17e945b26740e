import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { loadModelFiles, MODEL_JSON } from '../model/index.js';
import { ConfigError } from '../runtime/config/config-error.js';

/** One weight that does not carry over: absent from the saved model, only in it, or of another shape. */
export interface InitMismatch {
  name: string;
  problem: 'missing' | 'unexpected' | 'shape';
  expected?: number[];
  found?: number[];
}

/** --init-from names a model whose weights do not match the run's architecture; lists every mismatch, not the first. */
export class InitFromMismatchError extends ConfigError {
  constructor(
    readonly dir: string,
    readonly mismatches: InitMismatch[],
  ) {
    const shape = (s?: number[]) => `[${(s ?? []).join(',')}]`;
    const listed = mismatches.map((m) =>
      m.problem === 'shape'
        ? `${m.name} is ${shape(m.found)}, the model's is ${shape(m.expected)}`
        : m.problem === 'missing'
          ? `${m.name} ${shape(m.expected)} is missing`
          : `${m.name} ${shape(m.found)} is not in the model`,
    );
    super([
      {
        key: 'initFrom',
        flag: '--init-from',
        value: dir,
        message: `not the same architecture (${mismatches.length} weights do not match): ${listed.join('; ')}`,
      },
    ]);
  }
}

/** The model folder: RUN_DIR/best as given, or RUN_DIR, whose best/ is taken. */
export function initFromDir(path: string): string {
  if (!existsSync(join(path, MODEL_JSON)) && existsSync(join(path, 'best', MODEL_JSON))) return join(path, 'best');
  return path;
}

/**
 * Starts `model` from the weights of an earlier fleet model (a run's best/):
 * every weight by its layer-qualified name (conv1/kernel, bn1/moving_mean,
 * ...), BatchNorm statistics included. Nothing is written unless every
 * weight matches in name and shape.
 */
export async function initFromModel(model: tf.LayersModel, path: string): Promise<{ dir: string; weights: number }> {
  const dir = initFromDir(path);
  const source = await loadModelFiles(dir);
  try {
    const saved = new Map(source.weights.map((w) => [w.originalName, w]));
    const mismatches: InitMismatch[] = [];
    for (const weight of model.weights) {
      const from = saved.get(weight.originalName);
      if (!from) mismatches.push({ name: weight.originalName, problem: 'missing', expected: weight.shape as number[] });
      else if (from.shape.join(',') !== weight.shape.join(','))
        mismatches.push({ name: weight.originalName, problem: 'shape', expected: weight.shape as number[], found: from.shape as number[] });
      saved.delete(weight.originalName);
    }
    for (const [name, w] of saved) mismatches.push({ name, problem: 'unexpected', found: w.shape as number[] });
    if (mismatches.length > 0) throw new InitFromMismatchError(dir, mismatches);
    const byName = new Map(source.weights.map((w) => [w.originalName, w]));
    for (const weight of model.weights) weight.write(byName.get(weight.originalName)!.read()); // assign shares the data by reference count: disposing the source keeps it
    return { dir, weights: model.weights.length };
  } finally {
    source.dispose();
  }
}
