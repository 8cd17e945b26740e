import type { z } from 'zod';
import { ConfigError } from './config-error.js';
import { machineConfigSchema, MACHINE_KEYS, type MachineConfig } from './machine-config.js';
import { checkRunRules, runConfigFields, RUN_KEYS, type RunConfig } from './run-config.js';

export { ConfigError, ConfigFileError, type ConfigProblem } from './config-error.js';
export {
  BACKEND_CHOICES,
  MACHINE_KEYS,
  PROGRESS_CHOICES,
  machineConfigSchema,
  type BackendChoice,
  type MachineConfig,
} from './machine-config.js';
export {
  AUGMENT_CHOICES,
  BALANCE_CHOICES,
  COMPRESS_CHOICES,
  LR_SCALING_CHOICES,
  MODEL_CHOICES,
  STEM_CHOICES,
  RUN_KEYS,
  TEST_MODEL_CHOICES,
  runConfigSchema,
  type AugmentPreset,
  type Compress,
  type ModelName,
  type RunConfig,
} from './run-config.js';

/**
 * The validated configuration of a training process: the run's keys and this
 * machine's. Flags, FLEET_* variables, a config file and defaults all land
 * here and are validated once.
 */
export const trainConfigSchema = runConfigFields.extend(machineConfigSchema.shape).superRefine(checkRunRules);

export type TrainConfig = RunConfig & MachineConfig;

/**
 * The config keys a flag sets: all but globalBatch, which is derived (--batch-size x --workers when the run
 * starts, trainConfigFrom; the checkpoint's on resume), so no flag, config file or sweep spec sets it.
 */
export type FlagKey = Exclude<keyof TrainConfig, 'globalBatch'>;

/** The flag that sets each config key, so errors name what the user typed. */
export const FLAG_OF: Record<FlagKey, string> = {
  runId: '--run-id',
  workers: '--workers',
  model: '--model',
  epochs: '--epochs',
  batchSize: '--batch-size',
  lr: '--lr',
  momentum: '--momentum',
  weightDecay: '--weight-decay',
  warmupEpochs: '--warmup-epochs',
  minLr: '--min-lr',
  augment: '--augment',
  mixupAlpha: '--mixup',
  cutmixAlpha: '--cutmix',
  labelSmoothing: '--label-smoothing',
  dataDir: '--data-dir',
  download: '--download',
  dataUrl: '--data-url',
  allowPartial: '--allow-partial',
  limitTrain: '--limit-train',
  limitTest: '--limit-test',
  seed: '--seed',
  backend: '--backend',
  threads: '--threads',
  outDir: '--out',
  evalBatchSize: '--eval-batch-size',
  progress: '--progress',
  syncEvery: '--sync-every',
  lrScaling: '--lr-scaling',
  balance: '--balance',
  freezeEpochs: '--freeze-epochs',
  trainBn: '--train-bn',
  fineTuneLr: '--fine-tune-lr',
  initFrom: '--init-from',
  stem: '--stem',
  pretrained: '--pretrained',
  compress: '--compress',
};

/** Where a key's value came from, as the user wrote it (default: its flag). */
export type OriginOf = (key: string) => string;
const flagOrigin: OriginOf = (key) => (FLAG_OF as Record<string, string | undefined>)[key] ?? key;

/** zod's issues as ConfigError problems, each naming where its value came from. */
export function configProblems(error: z.ZodError, raw: Record<string, unknown>, originOf: OriginOf): ConfigError {
  return new ConfigError(
    error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      return { key, flag: originOf(key), message: issue.message, value: raw[key] };
    }),
  );
}

/** Validates a raw config (already typed by the flag parsers); throws ConfigError naming every bad flag, variable or file key. */
export function parseTrainConfig(raw: Record<string, unknown>, originOf: OriginOf = flagOrigin): TrainConfig {
  const result = trainConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  throw configProblems(result.error, raw, originOf);
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, from[k]])) as Pick<T, K>;
}

/** The keys that define the run (what a checkpoint and config.json keep). */
export function runConfigOf(config: TrainConfig): RunConfig {
  return pick(config, RUN_KEYS);
}

/** This machine's keys. */
export function machineConfigOf(config: TrainConfig): MachineConfig {
  return pick(config, MACHINE_KEYS);
}

/** Values derived from the config and the data, with units in the names. */
export interface TrainPlan {
  trainCount: number;
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
}

/**
 * Warm-up never takes more than a fifth of the run, so a short run (one epoch
 * of a smoke test) still trains mostly at the requested rate.
 */
export function planTraining(config: RunConfig, trainCount: number): TrainPlan {
  // A step is one global batch, cut among the members present (local steps count once each): membership does not change it.
  const stepsPerEpoch = Math.ceil(trainCount / globalBatchOf(config));
  const totalSteps = stepsPerEpoch * config.epochs;
  const warmupSteps = Math.min(Math.round(config.warmupEpochs * stepsPerEpoch), Math.floor(totalSteps / 5));
  return { trainCount, stepsPerEpoch, totalSteps, warmupSteps };
}

/**
 * The run's global batch: samples per optimizer step over all workers, fixed
 * for the whole run (elastic membership cuts it among the members present).
 * Recorded when the run starts; a config without it (an older checkpoint, a
 * one-process run) has batchSize x workers.
 */
export function globalBatchOf(config: Pick<RunConfig, 'batchSize' | 'workers' | 'globalBatch'>): number {
  return config.globalBatch ?? config.batchSize * config.workers;
}

/**
 * The peak learning rate: as given, or scaled linearly with the global batch
 * (Goyal et al.: lr * global / --batch-size, i.e. lr * the run's first worker
 * count, with warm-up) when --lr-scaling linear. Fixed with the global batch:
 * workers joining or leaving do not change it.
 */
export function peakLearningRate(config: RunConfig): number {
  return config.lrScaling === 'linear' ? (config.lr * globalBatchOf(config)) / config.batchSize : config.lr;
}
