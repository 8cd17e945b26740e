import { z } from 'zod';

export const MODEL_CHOICES = ['cnn', 'resnet', 'resnet18', 'resnet34'] as const;
/** Small models for tests and smoke runs; accepted but not advertised. */
export const TEST_MODEL_CHOICES = ['tiny', 'tiny-bn'] as const;
export const AUGMENT_CHOICES = ['none', 'basic', 'full'] as const;
export const LR_SCALING_CHOICES = ['none', 'linear'] as const;
/** equal: DistributedSampler shards; speed: shards in proportion to each worker's measured speed. */
export const BALANCE_CHOICES = ['equal', 'speed'] as const;
/** How parameters and contributions travel between coordinator and workers: float32, or 16-bit floats (half the bytes). */
export const COMPRESS_CHOICES = ['none', 'fp16', 'bf16'] as const;
export type Compress = (typeof COMPRESS_CHOICES)[number];
/** cifar: 3x3 stride-1 conv1, no max-pool; imagenet-conv1: the 7x7 conv1 (pretrained weights kept) at stride 1, no max-pool. */
export const STEM_CHOICES = ['cifar', 'imagenet-conv1'] as const;
/** The architectures with a choice of stem (torchvision's ResNet layouts). */
export const STEM_MODELS: readonly string[] = ['resnet18', 'resnet34'];

export type ModelName = (typeof MODEL_CHOICES)[number] | (typeof TEST_MODEL_CHOICES)[number];
export type AugmentPreset = (typeof AUGMENT_CHOICES)[number];

/**
 * What defines a run: the same values give the same model on any machine.
 * Saved in checkpoints and config.json; a resumed run takes these from the
 * checkpoint, never from the command line.
 */
export const runConfigFields = z.object({
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
  allowPartial: z.boolean(),
  limitTrain: z.number().int().min(1).nullable(),
  limitTest: z.number().int().min(1).nullable(),
  seed: z.number().int().min(0).max(0xffff_ffff),
  syncEvery: z.number().int().min(1).max(10_000),
  lrScaling: z.enum(LR_SCALING_CHOICES),
  // Defaulted: a checkpoint saved before the flag existed still resumes.
  balance: z.enum(BALANCE_CHOICES).default('equal'),
  // Transfer learning (docs/transfer-learning.md): the first N epochs train the head only.
  freezeEpochs: z.number().int().min(0).max(100_000).default(0),
  trainBn: z.boolean().default(false),
  fineTuneLr: z.number().gt(0).max(100).nullable().default(null),
  // An earlier fleet model (RUN_DIR/best) the run starts from instead of its seeded initialisation.
  initFrom: z.string().min(1).nullable().default(null),
  stem: z.enum(STEM_CHOICES).default('cifar'),
  // ImageNet weights (torchvision naming, safetensors) for resnet18/resnet34: docs/transfer-learning.md.
  pretrained: z.string().min(1).nullable().default(null),
  // The exchange's wire format (src/exchange/wire-format.ts); the master, optimizer and sums stay float32.
  compress: z.enum(COMPRESS_CHOICES).default('none'),
  // Samples per optimizer step over all workers, fixed for the whole run whatever the membership (docs/architecture.md,
  // elastic membership): --batch-size x the run's first --workers (MAX). Null in a checkpoint saved before it existed:
  // batchSize x workers then (globalBatchOf).
  globalBatch: z.number().int().min(1).max(67_108_864).nullable().default(null),
});

/** Rules across keys, applied wherever run keys are validated. */
export function checkRunRules(
  c: {
    lr: number;
    minLr: number;
    epochs: number;
    workers: number;
    freezeEpochs: number;
    trainBn: boolean;
    fineTuneLr: number | null;
    syncEvery: number;
    model: string;
    stem: string;
  },
  ctx: z.RefinementCtx,
): void {
  if (c.minLr > c.lr) ctx.addIssue({ code: 'custom', message: 'must not exceed --lr', path: ['minLr'], input: c.minLr });
  checkFreezeRules(c, ctx);
  if (c.stem !== 'cifar' && !STEM_MODELS.includes(c.model))
    ctx.addIssue({ code: 'custom', message: `needs --model ${STEM_MODELS.join(' or ')}, not ${c.model}`, path: ['stem'], input: c.stem });
}

/** --freeze-epochs and the flags that only mean something with it. */
function checkFreezeRules(
  c: {
    minLr: number;
    epochs: number;
    workers: number;
    syncEvery: number;
    freezeEpochs: number;
    trainBn: boolean;
    fineTuneLr: number | null;
  },
  ctx: z.RefinementCtx,
): void {
  const issue = (key: string, message: string, input: unknown) => ctx.addIssue({ code: 'custom', message, path: [key], input });
  if (c.freezeEpochs > c.epochs) issue('freezeEpochs', `must not exceed --epochs (${c.epochs})`, c.freezeEpochs);
  // A frozen round exchanges the head's gradients; local SGD's parameter rounds do not know the subset yet.
  if (c.freezeEpochs > 0 && c.syncEvery > 1)
    issue('freezeEpochs', 'is not supported with --sync-every > 1 yet (use --sync-every 1)', c.freezeEpochs);
  if (c.trainBn && c.freezeEpochs === 0) issue('trainBn', 'needs --freeze-epochs N > 0', c.trainBn);
  if (c.fineTuneLr !== null) {
    if (c.freezeEpochs === 0) issue('fineTuneLr', 'needs --freeze-epochs N > 0', c.fineTuneLr);
    else if (c.minLr > c.fineTuneLr) issue('fineTuneLr', 'must not be below --min-lr', c.fineTuneLr);
  }
}

export const runConfigSchema = runConfigFields.superRefine(checkRunRules);

export type RunConfig = z.infer<typeof runConfigSchema>;

export const RUN_KEYS = Object.keys(runConfigFields.shape) as (keyof RunConfig)[];
