import { z } from 'zod';
import { FleetError } from '../errors.js';

export const MODEL_CHOICES = ['cnn', 'resnet', 'resnet18'] as const;
/** Small models for tests and smoke runs; accepted but not advertised. */
export const TEST_MODEL_CHOICES = ['tiny', 'tiny-bn'] as const;
export const AUGMENT_CHOICES = ['none', 'basic', 'full'] as const;
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export const PROGRESS_CHOICES = ['auto', 'bar', 'log'] as const;
export const LR_SCALING_CHOICES = ['none', 'linear'] as const;
/** equal: DistributedSampler shards; speed: shards in proportion to each worker's measured speed. */
export const BALANCE_CHOICES = ['equal', 'speed'] as const;

export type ModelName = (typeof MODEL_CHOICES)[number] | (typeof TEST_MODEL_CHOICES)[number];
export type AugmentPreset = (typeof AUGMENT_CHOICES)[number];
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * The one schema of a training run. Flags, FLEET_* variables and defaults all
 * land here and are validated once; the result travels into config.json and
 * every saved model's meta.json.
 */
export const trainConfigSchema = z.object({
  // No dots: the run id is one token of the NATS subjects fleet.<run>.<event>.
  runId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, dash or underscore, at most 100'),
  workers: z.number().int().min(1).max(1024),
  model: z.enum([...MODEL_CHOICES, ...TEST_MODEL_CHOICES]),
  epochs: z.number().int().min(1).max(100_000),
  batchSize: z.number().int().min(1).max(65_536),
  lr: z.number().gt(0).max(100),
  momentum: z.number().min(0).lt(1),
  weightDecay: z.number().min(0).max(1),
  warmupEpochs: z.number().min(0).max(100_000),
  minLr: z.number().min(0),
  augment: z.enum(AUGMENT_CHOICES),
  mixupAlpha: z.number().min(0).max(100),
  cutmixAlpha: z.number().min(0).max(100),
  labelSmoothing: z.number().min(0).lt(1),
  dataDir: z.string().min(1),
  download: z.boolean(),
  allowPartial: z.boolean(),
  limitTrain: z.number().int().min(1).nullable(),
  limitTest: z.number().int().min(1).nullable(),
  seed: z.number().int().min(0).max(0xffff_ffff),
  backend: z.enum(BACKEND_CHOICES),
  outDir: z.string().min(1),
  evalBatchSize: z.number().int().min(1).max(65_536),
  progress: z.enum(PROGRESS_CHOICES),
  syncEvery: z.number().int().min(1).max(10_000),
  lrScaling: z.enum(LR_SCALING_CHOICES),
  // Defaulted: a checkpoint's config.json from before the flag still resumes.
  balance: z.enum(BALANCE_CHOICES).default('equal'),
}).refine((c) => c.minLr <= c.lr, { message: 'must not exceed --lr', path: ['minLr'] });

export type TrainConfig = z.infer<typeof trainConfigSchema>;

/** The flag that sets each config key, so errors name what the user typed. */
export const FLAG_OF: Record<keyof TrainConfig, string> = {
  runId: '--run-id', workers: '--workers', model: '--model', epochs: '--epochs', batchSize: '--batch-size',
  lr: '--lr', momentum: '--momentum', weightDecay: '--weight-decay', warmupEpochs: '--warmup-epochs',
  minLr: '--min-lr', augment: '--augment', mixupAlpha: '--mixup', cutmixAlpha: '--cutmix',
  labelSmoothing: '--label-smoothing', dataDir: '--data-dir', download: '--download',
  allowPartial: '--allow-partial', limitTrain: '--limit-train', limitTest: '--limit-test', seed: '--seed',
  backend: '--backend', outDir: '--out', evalBatchSize: '--eval-batch-size', progress: '--progress',
  syncEvery: '--sync-every', lrScaling: '--lr-scaling', balance: '--balance',
};

export class ConfigError extends FleetError {
  constructor(readonly problems: { key: string; flag: string; message: string; value: unknown }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.flag} ${JSON.stringify(p.value)}: ${p.message}`).join('; ')}`);
  }
}

/** Validates a raw config (already typed by the flag parser); throws ConfigError naming every bad flag. */
export function parseTrainConfig(raw: Record<string, unknown>): TrainConfig {
  const result = trainConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    return { key, flag: FLAG_OF[key as keyof TrainConfig] ?? key, message: issue.message, value: raw[key] };
  }));
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
export function planTraining(config: TrainConfig, trainCount: number): TrainPlan {
  // A step is one global batch: every worker's batch (local steps count once each).
  const stepsPerEpoch = Math.ceil(trainCount / (config.batchSize * config.workers));
  const totalSteps = stepsPerEpoch * config.epochs;
  const warmupSteps = Math.min(Math.round(config.warmupEpochs * stepsPerEpoch), Math.floor(totalSteps / 5));
  return { trainCount, stepsPerEpoch, totalSteps, warmupSteps };
}

/**
 * The peak learning rate: as given, or scaled linearly with the global batch
 * (Goyal et al.: lr * workers, with warm-up) when --lr-scaling linear.
 */
export function peakLearningRate(config: TrainConfig): number {
  return config.lrScaling === 'linear' ? config.lr * config.workers : config.lr;
}
