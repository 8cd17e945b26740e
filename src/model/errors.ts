import { FleetError } from '../runtime/errors.js';

/** buildModel was asked for an architecture it does not know. */
export class UnknownModelError extends FleetError {
  readonly requested: string;
  readonly known: readonly string[];

  constructor(requested: string, known: readonly string[]) {
    super(`unknown model '${requested}' (known: ${known.join(', ')})`);
    this.requested = requested;
    this.known = known;
  }
}

/** A model option (seed, shape, class count...) is out of range. */
export class ModelConfigError extends FleetError {
  readonly option: string;
  readonly value: unknown;

  constructor(option: string, value: unknown, why: string) {
    super(`invalid model option ${option}=${JSON.stringify(value)}: ${why}`);
    this.option = option;
    this.value = value;
  }
}

export type ModelFilesProblem = 'missing-file' | 'bad-json' | 'bad-format' | 'bad-manifest-path' | 'size-mismatch' | 'checksum-mismatch';

/** A model folder (model.json + weights.bin) cannot be read as a fleet/tfjs layers-model. */
export class ModelFilesError extends FleetError {
  readonly file: string;
  readonly problem: ModelFilesProblem;

  constructor(file: string, problem: ModelFilesProblem, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}: ${detail}`, options);
    this.file = file;
    this.problem = problem;
  }
}
