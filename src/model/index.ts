// Public surface of model/: architectures, parameter counting, model files.
export { buildModel, isModelName, MODEL_NAMES, TEST_MODEL_NAMES } from './build-model.js';
export type { AnyModelName, BuildModelOptions, ModelName, TestModelName } from './build-model.js';
export { countParameters } from './count-parameters.js';
export type { ParameterCount } from './count-parameters.js';
export { RESNET18_LAYOUT, RESNET20_LAYOUT } from './architectures/resnet.js';
export type { ResNetLayout, ResNetStage } from './architectures/resnet.js';
export { CNN_BLOCK_CHANNELS } from './architectures/cnn.js';
export { loadModelFiles, readModelJson, readModelMeta, saveModelFiles, MODEL_JSON, WEIGHTS_BIN, META_JSON } from './model-files.js';
export type { FleetModelMetadata, SavedModelFiles } from './model-files.js';
export { cifar10Input, inferenceMetaSchema, modelInputSchema } from './model-meta.js';
export type { InferenceMeta, ModelInput } from './model-meta.js';
export type { FleetLayerState } from './layer-restore.js';
export { SeededDropout, seededDropout, spatialDropout2d, reseedDropout, SPATIAL_2D_NOISE_SHAPE } from './layers/seeded-dropout.js';
export { deriveSeed } from './seeds.js';
export { torchInitBound } from './torch-init.js';
export { ModelConfigError, ModelFilesError, UnknownModelError } from './errors.js';
export type { ModelFilesProblem } from './errors.js';
