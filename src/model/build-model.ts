import type * as tf from '@tensorflow/tfjs';
import { IMAGE_SHAPE, NUM_CLASSES } from '../dataset/cifar10-constants.js';
import type { ArchitectureOptions, StemKind } from './architectures/common.js';
import { buildCnn } from './architectures/cnn.js';
import { buildResNet } from './architectures/resnet.js';
import { RESNET18_LAYOUT, RESNET20_LAYOUT, RESNET34_LAYOUT } from './architectures/resnet-layouts.js';
import { buildTiny } from './architectures/tiny.js';
import { ModelConfigError, UnknownModelError } from './errors.js';
import { checkSeed } from './seeds.js';

/** Architectures users can pick (what the CLI advertises). */
export const MODEL_NAMES = ['cnn', 'resnet', 'resnet18', 'resnet34'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** Small models for tests of the training loop and of BatchNorm; not for users. */
export const TEST_MODEL_NAMES = ['tiny', 'tiny-bn'] as const;
export type TestModelName = (typeof TEST_MODEL_NAMES)[number];

export type AnyModelName = ModelName | TestModelName;

export interface BuildModelOptions {
  name: AnyModelName;
  /** Same seed -> same initial weights and dropout streams. */
  seed: number;
  numClasses?: number;
  /** [height, width, channels], NHWC. */
  inputShape?: readonly [number, number, number];
  /** ResNet stem (resnet18/resnet34 only); 'cifar' when absent. */
  stem?: StemKind;
}

const BUILDERS: Record<AnyModelName, (o: ArchitectureOptions) => tf.LayersModel> = {
  cnn: buildCnn,
  resnet: (o) => buildResNet(RESNET20_LAYOUT, o),
  resnet18: (o) => buildResNet(RESNET18_LAYOUT, o),
  resnet34: (o) => buildResNet(RESNET34_LAYOUT, o),
  tiny: (o) => buildTiny(o, false),
  'tiny-bn': (o) => buildTiny(o, true),
};

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

/** Builds a fresh, uncompiled model whose output is logits [batch, numClasses]. */
export function buildModel(options: BuildModelOptions): tf.LayersModel {
  const name: string = options.name;
  if (!Object.hasOwn(BUILDERS, name)) throw new UnknownModelError(name, [...MODEL_NAMES, ...TEST_MODEL_NAMES]);
  checkSeed(options.seed);
  const numClasses = options.numClasses ?? NUM_CLASSES;
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new ModelConfigError('numClasses', numClasses, 'must be an integer >= 2');
  const inputShape = options.inputShape ?? IMAGE_SHAPE;
  if (inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ModelConfigError('inputShape', inputShape, 'must be [height, width, channels] of positive integers');
  }
  const stem = options.stem ?? 'cifar';
  if (stem !== 'cifar' && options.name !== 'resnet18' && options.name !== 'resnet34') {
    throw new ModelConfigError('stem', stem, `only resnet18 and resnet34 have an ImageNet stem, not ${options.name}`);
  }
  const shape: [number, number, number] = [inputShape[0], inputShape[1], inputShape[2]];
  return BUILDERS[options.name]({ seed: options.seed, numClasses, inputShape: shape, stem });
}
