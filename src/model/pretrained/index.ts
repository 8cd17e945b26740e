// Importing pretrained weights (torchvision ResNets from safetensors).
export {
  applyTorchvisionResNet,
  importSummary,
  loadTorchvisionResNet,
  torchvisionModuleName,
} from './torchvision-resnet.js';
export type { PretrainedImportOptions, PretrainedImportReport } from './torchvision-resnet.js';
export { checkTorchvisionResNetFile } from './torchvision-fit.js';
export { TORCHVISION_MODELS, torchvisionResNetLayout } from './torchvision-layout.js';
export type { TorchTensorSpec } from './torchvision-layout.js';
export { PretrainedWeightsError } from './errors.js';
export type { TensorMismatch } from './errors.js';
