// The tensor-set wire format: one contiguous little-endian buffer (float32,
// or 16-bit floats with --compress), a manifest of sorted names, shapes,
// dtypes and offsets with a CRC-32C, sent as the manifest then data chunks.
export {
  FLOAT32_BYTES,
  TENSOR_DTYPES,
  bytesPerElement,
  checkLayout,
  compareNames,
  elementCount,
  isTensorDtype,
  planTensorSet,
  totalBytesOf,
} from './tensor-layout.js';
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
  dtypeOf,
} from './tensor-set-chunks.js';
export type { AssemblerOptions, AssemblerState, ReceivedTensorSet } from './tensor-set-chunks.js';
export { TensorSetSink } from './tensor-set-sink.js';
export { FLOAT32_WIRE, encodeTensorSet, entriesIn } from './tensor-set-encode.js';
export type { RoundingKey, WireFormat } from './tensor-set-encode.js';
export { contributionWire, parameterWire, wireDtypeOf } from './wire-format.js';
export { FLOAT16_MAX, RoundingStream, decodeHalf, encodeHalf, roundingSeed } from './half-floats.js';
export type { HalfDtype, Rounding } from './half-floats.js';
export type { FloatSink, SinkOptions } from './tensor-set-sink.js';
export {
  MissingTensorError,
  NonFiniteTensorError,
  OversizedTensorSetError,
  TensorChecksumError,
  TensorDtypeError,
  TensorLayoutError,
  TensorOverflowError,
  TensorSetError,
  TensorSetLengthError,
  TensorSetOverflowError,
  TensorShapeError,
  TensorStreamProtocolError,
  UnknownTensorError,
} from './tensor-set-errors.js';
export type { RoundWork } from './round-work.js';
