import { FleetError } from '../../runtime/errors.js';

/** One tensor that does not fit: missing from the file, unexpected in it, or of another shape. */
export interface TensorMismatch {
  name: string;
  problem: 'missing' | 'unexpected' | 'wrong-shape';
  /** Shape the model needs (torchvision layout); absent for unexpected tensors. */
  expected?: readonly number[];
  /** Shape in the file; absent for missing tensors. */
  found?: readonly number[];
}

function describe(m: TensorMismatch): string {
  const shape = (s: readonly number[] | undefined) => (s === undefined ? '' : `[${s.join(', ')}]`);
  if (m.problem === 'missing') return `missing ${m.name} ${shape(m.expected)}`;
  if (m.problem === 'unexpected') return `unexpected ${m.name} ${shape(m.found)}`;
  return `wrong shape ${m.name}: file ${shape(m.found)}, model needs ${shape(m.expected)}`;
}

/** A pretrained-weights file does not fit the model: lists every mismatch, not the first only. */
export class PretrainedWeightsError extends FleetError {
  readonly file: string;
  readonly model: string;
  readonly mismatches: readonly TensorMismatch[];

  constructor(file: string, model: string, mismatches: readonly TensorMismatch[]) {
    super(
      `${file}: does not fit --model ${model} (torchvision naming): ${mismatches.length} mismatches:\n  ${mismatches.map(describe).join('\n  ')}`,
    );
    this.file = file;
    this.model = model;
    this.mismatches = mismatches;
  }
}
