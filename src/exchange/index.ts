// The tensor-set wire format: one contiguous little-endian float32 buffer,
// a manifest of sorted names, shapes and offsets with a CRC-32C, sent as the
// manifest then data chunks.
export { FLOAT32_BYTES, checkLayout, compareNames, elementCount, planTensorSet, totalBytesOf } from './tensor-layout.js';
export type { TensorDtype, TensorEntry, TensorSpec } from './tensor-layout.js';
export { alignTensorSet, findEntry, packTensorSet, tensorSetCrc32c, tensorSetValues, tensorView, wrapTensorSet } from './tensor-set.js';
export type { NamedTensor, TensorSet } from './tensor-set.js';
export { checkAgainstModel, checkFinite, checkTensorSet, firstNonFinite } from './tensor-set-check.js';
export type { CheckOptions } from './tensor-set-check.js';
export { fromProtoManifest, manifestOf, toProtoManifest } from './tensor-manifest.js';
export type { TensorSetManifest } from './tensor-manifest.js';
export {
  ChunkSizeError,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_TENSOR_SET_BYTES,
  TensorSetAssembler,
  chunkTensorSet,
} from './tensor-set-chunks.js';
export type { AssemblerOptions, AssemblerState } from './tensor-set-chunks.js';
export { TensorSetSink } from './tensor-set-sink.js';
export type { FloatSink, SinkOptions } from './tensor-set-sink.js';
export {
  MissingTensorError,
  NonFiniteTensorError,
  OversizedTensorSetError,
  TensorChecksumError,
  TensorDtypeError,
  TensorLayoutError,
  TensorSetError,
  TensorSetLengthError,
  TensorSetOverflowError,
  TensorShapeError,
  TensorStreamProtocolError,
  UnknownTensorError,
} from './tensor-set-errors.js';
export type { RoundWork } from './round-work.js';
