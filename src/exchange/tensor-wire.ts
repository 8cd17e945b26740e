import type { WeightSlice } from '../training/flat-weights.js';
import { bytesPerElement, type TensorDtype, type TensorEntry } from './tensor-layout.js';

export { TensorSetError } from './tensor-set-errors.js';

/**
 * The tensor-set entries (byte offsets) of a model's flat float layout, as
 * the coordinator and workers hold their tensors (float32), or as they
 * travel in `dtype` (--compress): the same order, offsets for its size.
 */
export function entriesOf(layout: readonly WeightSlice[], dtype: TensorDtype = 'float32'): TensorEntry[] {
  const size = bytesPerElement(dtype);
  return layout.map((s) => ({
    name: s.name,
    shape: s.shape,
    dtype,
    byteOffset: s.offset * size,
    byteLength: s.length * size,
    trainable: s.trainable,
  }));
}
