import { statSync } from 'node:fs';
import { NUM_CLASSES } from '../src/dataset/cifar10-constants.js';
import { checkTorchvisionResNetFile } from '../src/model/pretrained/torchvision-fit.js';
import { TORCHVISION_MODELS as PRETRAINED_MODELS } from '../src/model/pretrained/torchvision-layout.js';
import { ConfigError, type OriginOf, type TrainConfig } from '../src/runtime/config/train-config.js';
import { FleetError } from '../src/runtime/errors.js';

/**
 * --pretrained checks that need the file system or other keys: before any
 * directory, download or process, a missing file, an architecture without
 * torchvision weights, or a file that is not a safetensors file of this
 * model's tensors (its header checked; every mismatch listed) is a usage
 * error (exit 2), so a bad file leaves no run directory behind.
 */
export function checkPretrained(config: TrainConfig, originOf: OriginOf): TrainConfig {
  const file = config.pretrained;
  if (file === null) return config;
  const problem = (message: string) => new ConfigError([{ key: 'pretrained', flag: originOf('pretrained'), message, value: file }]);
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw problem('no such file (a safetensors file of torchvision weights: docs/transfer-learning.md)');
  }
  if (!isFile) throw problem('is not a file');
  if (!PRETRAINED_MODELS.includes(config.model)) throw problem(`needs --model ${PRETRAINED_MODELS.join(' or ')}, not ${config.model}`);
  if (config.initFrom !== null) throw problem('cannot be combined with --init-from (both set the initial weights)');
  try {
    checkTorchvisionResNetFile(file, config.model, config.stem, NUM_CLASSES);
  } catch (err) {
    // SafetensorsError / PretrainedWeightsError name the file, the tensors and the problem.
    if (err instanceof FleetError) throw problem(err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message);
    throw err;
  }
  return config;
}
