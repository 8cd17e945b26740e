// The safetensors format: a bounds-checked reader and a small F32 writer.
export {
  MAX_HEADER_BYTES,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  SAFETENSORS_DTYPES,
  halfToFloat,
} from './read-safetensors.js';
export type { ReadSafetensorsOptions, SafetensorsDtype, SafetensorsEntry, SafetensorsFile, SafetensorsTensor } from './read-safetensors.js';
export { encodeSafetensors, writeSafetensors } from './write-safetensors.js';
export type { TensorToWrite } from './write-safetensors.js';
export { SafetensorsError } from './errors.js';
export type { SafetensorsProblem } from './errors.js';
