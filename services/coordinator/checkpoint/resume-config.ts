import {
  ConfigFileError,
  configProblems,
  runConfigSchema,
  type MachineConfig,
  type TrainConfig,
} from '../../../src/runtime/config/train-config.js';
import { readCheckpoint } from './checkpoint-file.js';

/**
 * On --resume the run's keys are the checkpoint's (run id, model, schedule,
 * seed...), validated like flags; only the machine keys come from this
 * command line. A checkpoint whose config is not a run config of this
 * version is refused naming the file and the key.
 */
export async function configForResume(checkpointFile: string, machine: MachineConfig): Promise<TrainConfig> {
  const { header } = await readCheckpoint(checkpointFile);
  const saved = header.state.config;
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) {
    throw new ConfigFileError(checkpointFile, 'config', 'the checkpoint holds no run config', saved ?? null);
  }
  const raw = saved as Record<string, unknown>;
  const result = runConfigSchema.safeParse(raw);
  if (!result.success) throw configProblems(result.error, raw, (key) => `${checkpointFile}: config.${key}`);
  return { ...result.data, ...machine };
}
