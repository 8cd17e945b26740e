import { FLOAT32_BYTES, type TensorEntry } from './tensor-layout.js';

export { TensorSetError } from './tensor-set-errors.js';

/**
 * A model's flat float layout (training/flat-weights.ts: offsets and lengths
 * in floats), as the coordinator and workers hold their tensors.
 */
export interface WireSlice {
  name: string;
  shape: number[];
  trainable: boolean;
  /** In floats. */
  offset: number;
  length: number;
}

/** The tensor-set entries (byte offsets) of a flat float layout. */
export function entriesOf(layout: readonly WireSlice[]): TensorEntry[] {
  return layout.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32', byteOffset: s.offset * FLOAT32_BYTES, byteLength: s.length * FLOAT32_BYTES, trainable: s.trainable }));
}
