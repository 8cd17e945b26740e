import { statSync } from 'node:fs';
import { ConfigError, type OriginOf, type TrainConfig } from '../src/runtime/config/train-config.js';

/** Architectures with torchvision ImageNet checkpoints fleet can import. */
const PRETRAINED_MODELS: readonly string[] = ['resnet18', 'resnet34'];

/**
 * --pretrained checks that need the file system or other keys: before any
 * directory, download or process, a missing file or an architecture without
 * torchvision weights is a usage error (exit 2). The file's contents are
 * checked when the model is built (SafetensorsError, PretrainedWeightsError).
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
  return config;
}
