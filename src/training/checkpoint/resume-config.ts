import {
  ConfigError,
  ConfigFileError,
  configProblems,
  runConfigSchema,
  type MachineConfig,
  type TrainConfig,
} from '../../runtime/config/train-config.js';
import { readCheckpoint } from './checkpoint-file.js';
import { checkpointProgress, type CheckpointProgress } from './run-checkpoint.js';

/** Run keys a resumed run may change: --epochs, to extend a run (or end it earlier than planned). */
export interface ResumeOverrides {
  /** A new epoch count and the flag (or variable, or file key) it came from, for errors. */
  epochs?: { value: number; flag: string };
}

export interface ResumePoint extends CheckpointProgress {
  /** The checkpoint's run keys (with the overrides) and this command line's machine keys. */
  config: TrainConfig;
  /** The epoch count the checkpoint was planned with. */
  savedEpochs: number;
  /** Written at the end of the run's last epoch (with the overrides): nothing left to train. */
  finished: boolean;
}

/**
 * On --resume the run's keys are the checkpoint's (run id, model, schedule,
 * seed, the global batch...), validated like flags; only the machine keys come from this
 * command line, and --epochs when given (a finished run extended). A
 * checkpoint whose config is not a run config of this version is refused
 * naming the file and the key; --epochs below the epoch the checkpoint
 * reached is refused naming --epochs.
 */
export async function resumePoint(checkpointFile: string, machine: MachineConfig, overrides: ResumeOverrides = {}): Promise<ResumePoint> {
  const { header } = await readCheckpoint(checkpointFile);
  const saved = header.state.config;
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) {
    throw new ConfigFileError(checkpointFile, 'config', 'the checkpoint holds no run config', saved ?? null);
  }
  const raw = saved as Record<string, unknown>;
  const result = runConfigSchema.safeParse(raw);
  if (!result.success) throw configProblems(result.error, raw, (key) => `${checkpointFile}: config.${key}`);
  const progress = checkpointProgress(checkpointFile, header.state);
  // The global batch defines the run: a checkpoint saved before it was recorded had batchSize x workers.
  const config: TrainConfig = {
    ...result.data,
    globalBatch: result.data.globalBatch ?? result.data.batchSize * result.data.workers,
    ...machine,
  };
  const epochs = overrides.epochs;
  if (epochs !== undefined) {
    if (epochs.value < progress.epoch) {
      const reached = progress.epochDone ? `has trained ${progress.epoch} epochs` : `is in epoch ${progress.epoch}`;
      throw new ConfigError([
        {
          key: 'epochs',
          flag: epochs.flag,
          value: epochs.value,
          message: `the checkpoint ${checkpointFile} ${reached}: a resumed run may raise --epochs, not go below that`,
        },
      ]);
    }
    config.epochs = epochs.value;
  }
  return {
    ...progress,
    config,
    savedEpochs: result.data.epochs,
    finished: progress.epochDone && progress.epoch >= config.epochs,
  };
}

/** The config of a resumed run (see resumePoint). */
export async function configForResume(
  checkpointFile: string,
  machine: MachineConfig,
  overrides: ResumeOverrides = {},
): Promise<TrainConfig> {
  return (await resumePoint(checkpointFile, machine, overrides)).config;
}
