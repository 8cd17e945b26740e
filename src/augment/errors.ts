import { FleetError } from '../runtime/errors.js';

/** Base of every error augment/ raises, so callers can catch the folder's errors as one. */
export class AugmentError extends FleetError {}

/** An option or parameter outside its domain, e.g. mixupAlpha: 0 or preset: 'heavy'. */
export class AugmentOptionError extends AugmentError {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`invalid augment ${option}: ${describe(value)} (expected ${expected})`);
  }
}

/** A batch names a dataset index the split does not have. */
export class SampleIndexError extends AugmentError {
  constructor(
    readonly index: number,
    readonly position: number,
    readonly datasetSize: number,
  ) {
    super(
      `batch position ${position} asks for dataset index ${index}, but the split has ${datasetSize} images (valid: integers 0..${datasetSize - 1})`,
    );
  }
}

/** A label outside 0..numClasses-1. */
export class LabelRangeError extends AugmentError {
  constructor(
    readonly label: number,
    readonly position: number,
    readonly numClasses: number,
  ) {
    super(`label ${label} at batch position ${position} is outside 0..${numClasses - 1}`);
  }
}

/** An input or output buffer whose length does not fit the batch. */
export class BufferSizeError extends AugmentError {
  constructor(
    readonly buffer: string,
    readonly length: number,
    readonly required: number,
    readonly exact: boolean,
  ) {
    super(`${buffer} has length ${length}, needs ${exact ? 'exactly' : 'at least'} ${required}`);
  }
}

/** images and labels of a split that disagree on the number of samples. */
export class DatasetShapeError extends AugmentError {
  constructor(
    readonly imagesLength: number,
    readonly labelsLength: number,
    readonly imageLen: number,
  ) {
    super(
      imagesLength % imageLen !== 0
        ? `images has length ${imagesLength}, not a multiple of ${imageLen} (32*32*3 HWC bytes per image)`
        : `images holds ${imagesLength / imageLen} images but labels has ${labelsLength} entries`,
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<unknown>).length})`;
  return String(value);
}
