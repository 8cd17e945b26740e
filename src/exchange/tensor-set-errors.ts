import { FleetError } from '../runtime/errors.js';

/**
 * A refused tensor set. Every subclass names what was wrong in typed fields:
 * the tensor (null when the fault is the whole set's), what the receiver
 * expected and what it got. rpc/grpc-status.ts (TRANSPORT_STATUS) maps them to INVALID_ARGUMENT,
 * except OversizedTensorSetError (RESOURCE_EXHAUSTED).
 */
export class TensorSetError<E = unknown, G = E> extends FleetError {
  constructor(
    readonly reason: string,
    readonly tensor: string | null = null,
    readonly expected: E | null = null,
    readonly got: G | null = null,
    options?: { cause?: unknown },
  ) {
    super(`tensor set refused: ${reason}${tensor === null ? '' : ` (tensor ${tensor})`}`, options);
  }
}

/** A tensor the model does not have. */
export class UnknownTensorError extends TensorSetError<null, string> {
  constructor(tensor: string) {
    super('unknown tensor name', tensor, null, tensor);
  }
}

/** A tensor of the model that the set lacks. */
export class MissingTensorError extends TensorSetError<string, null> {
  constructor(tensor: string) {
    super('tensor missing from the set', tensor, tensor, null);
  }
}

export class TensorShapeError extends TensorSetError<readonly number[]> {
  constructor(tensor: string, expected: readonly number[], got: readonly number[]) {
    super(`shape [${got.join(',')}], expected [${expected.join(',')}]`, tensor, expected, got);
  }
}

export class TensorDtypeError extends TensorSetError<string> {
  constructor(tensor: string, expected: string, got: string) {
    super(`dtype ${got}, expected ${expected}`, tensor, expected, got);
  }
}

/**
 * The set's own layout is inconsistent: names unsorted or repeated, an
 * offset leaving a gap or overlapping the previous tensor, a byte length not
 * matching the shape, a trainable flag differing from the model's.
 */
export class TensorLayoutError extends TensorSetError<number | string | boolean> {
  constructor(tensor: string, reason: string, expected: number | string | boolean, got: number | string | boolean) {
    super(reason, tensor, expected, got);
  }
}

/** The buffer's length is not the manifest's total (a truncated set, or bytes missing at the end of a stream). */
export class TensorSetLengthError extends TensorSetError<number> {
  constructor(expected: number, got: number) {
    super(`${got} bytes, expected ${expected}`, null, expected, got);
  }
}

/** A chunk reaching past the manifest's total_bytes. */
export class TensorSetOverflowError extends TensorSetError<number> {
  constructor(expected: number, got: number) {
    super(`data reaches byte ${got}, past the manifest's total of ${expected}`, null, expected, got);
  }
}

export class TensorChecksumError extends TensorSetError<number> {
  constructor(expected: number, got: number) {
    super(`CRC-32C ${hex(got)}, the manifest says ${hex(expected)}`, null, expected, got);
  }
}

/** A NaN or +-Infinity; `index` counts floats from the start of the tensor. */
export class NonFiniteTensorError extends TensorSetError<'finite', number> {
  constructor(
    tensor: string,
    readonly index: number,
    value: number,
  ) {
    super(`value ${value} at index ${index}`, tensor, 'finite', value);
  }
}

/**
 * A finite value the 16-bit format cannot hold (float16: |x| above 65504,
 * which would round to Inf). The sender refuses the set rather than send an
 * infinity the receiver would refuse anyway, or clamp it to 65504 and
 * change the sum without a word; bfloat16 (float32's range) carries it.
 */
export class TensorOverflowError extends TensorSetError<string, number> {
  constructor(
    tensor: string,
    readonly index: number,
    value: number,
    readonly dtype: string,
  ) {
    super(
      `value ${value} at index ${index} is beyond ${dtype}'s range (it would travel as Infinity); --compress bf16 keeps float32's range`,
      tensor,
      `finite in ${dtype}`,
      value,
    );
  }
}

/** The stream broke the manifest-then-data protocol (data first, a second manifest, an empty message). */
export class TensorStreamProtocolError extends TensorSetError<null, null> {
  constructor(reason: string) {
    super(reason);
  }
}

/** A tensor set larger than the receiver accepts: refused before anything is allocated. */
export class OversizedTensorSetError extends TensorSetError<number> {
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`${bytes} bytes exceed the limit of ${limitBytes} bytes`, null, limitBytes, bytes);
  }
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
