import type { StemKind } from '../architectures/common.js';
import { readSafetensorsHeader } from '../safetensors/read-safetensors.js';
import { PretrainedWeightsError, type TensorMismatch } from './errors.js';
import { type TorchTensorSpec, torchvisionResNetLayout } from './torchvision-layout.js';

/** Which tensors the adaptation replaces; by default decided from the shapes (see fitTorchvisionTensors). */
export interface PretrainedImportOptions {
  /**
   * Skip conv1.weight (the CIFAR stem's new 3x3 conv replaces it). Default:
   * skipped when fleet's stem conv is not 7x7.
   */
  skipConv1?: boolean;
  /** Skip fc.* (a new head). Default: skipped when the model's class count differs from the file's. */
  skipHead?: boolean;
}

/** BatchNorm's step counter: int64 in torchvision's files, and meaningless here. */
export function isStepCounter(name: string): boolean {
  return name.endsWith('.num_batches_tracked');
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Checks a --pretrained file against the tensors the model takes
 * (torchvisionResNetLayout) from its header alone, with every safetensors
 * check but no tensor decoded: SafetensorsError or PretrainedWeightsError
 * (every mismatch listed) before a run writes anything.
 */
export function checkTorchvisionResNetFile(file: string, model: string, stem: StemKind, numClasses: number): void {
  const header = readSafetensorsHeader(file, { ignore: isStepCounter });
  const { mismatches } = fitTorchvisionTensors(torchvisionResNetLayout(model, stem, numClasses), header, {});
  if (mismatches.length > 0) throw new PretrainedWeightsError(file, model, mismatches);
}

/**
 * Which of the model's torchvision tensors the file must hold and which of
 * its tensors are left out: conv1.weight when the stem conv is not 7x7 (the
 * CIFAR stem's new 3x3 conv), fc.* when the class counts differ (a new
 * head), num_batches_tracked always; every other difference is a mismatch.
 */
export function fitTorchvisionTensors(
  expected: readonly TorchTensorSpec[],
  found: ReadonlyMap<string, { shape: readonly number[] }>,
  options: PretrainedImportOptions,
): { isSkipped: (name: string) => boolean; skipped: string[]; mismatches: TensorMismatch[] } {
  const stemKernel = expected.find((t) => t.name === 'conv1.weight')?.shape;
  const skipConv1 = options.skipConv1 ?? (stemKernel !== undefined && stemKernel[2] !== 7);
  const fileHead = found.get('fc.weight')?.shape;
  const modelHead = expected.find((t) => t.name === 'fc.weight')?.shape;
  const skipHead = options.skipHead ?? (fileHead !== undefined && modelHead !== undefined && fileHead[0] !== modelHead[0]);
  const isSkipped = (name: string) =>
    (skipConv1 && name === 'conv1.weight') || (skipHead && name.startsWith('fc.')) || name.endsWith('.num_batches_tracked');
  const expectedNames = new Set(expected.map((t) => t.name));
  const mismatches: TensorMismatch[] = [];
  for (const t of expected) {
    if (isSkipped(t.name)) continue;
    const tensor = found.get(t.name);
    if (tensor === undefined) mismatches.push({ name: t.name, problem: 'missing', expected: t.shape });
    else if (!sameShape(tensor.shape, t.shape))
      mismatches.push({ name: t.name, problem: 'wrong-shape', expected: t.shape, found: tensor.shape });
  }
  const skipped: string[] = [];
  for (const [name, tensor] of found) {
    if (isSkipped(name)) skipped.push(name);
    else if (!expectedNames.has(name)) mismatches.push({ name, problem: 'unexpected', found: tensor.shape });
  }
  return { isSkipped, skipped, mismatches };
}
