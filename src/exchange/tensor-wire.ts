import type { WeightSlice } from '../training/flat-weights.js';
import { FLOAT32_BYTES, type TensorEntry } from './tensor-layout.js';

export { TensorSetError } from './tensor-set-errors.js';

/** The tensor-set entries (byte offsets) of a model's flat float layout, as the coordinator and workers hold their tensors. */
export function entriesOf(layout: readonly WeightSlice[]): TensorEntry[] {
  return layout.map((s) => ({
    name: s.name,
    shape: s.shape,
    dtype: 'float32',
    byteOffset: s.offset * FLOAT32_BYTES,
    byteLength: s.length * FLOAT32_BYTES,
    trainable: s.trainable,
  }));
}
