import { FleetError } from '../../runtime/errors.js';

export type SafetensorsProblem =
  | 'truncated'
  | 'bad-header-length'
  | 'bad-json'
  | 'bad-entry'
  | 'unknown-dtype'
  | 'offsets-out-of-range'
  | 'overlapping'
  | 'byte-length-mismatch';

/** A safetensors file cannot be read: names the file, the tensor (when one is at fault) and the problem. */
export class SafetensorsError extends FleetError {
  readonly file: string;
  readonly tensor: string | undefined;
  readonly problem: SafetensorsProblem;

  constructor(file: string, problem: SafetensorsProblem, detail: string, tensor?: string) {
    super(`${file}: ${problem}${tensor === undefined ? '' : ` (tensor ${tensor})`}: ${detail}`);
    this.file = file;
    this.tensor = tensor;
    this.problem = problem;
  }
}
