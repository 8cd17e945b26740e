import { join } from 'node:path';
import { ConfigError } from '../../runtime/config/train-config.js';
import type { TrainConfig } from '../../runtime/config/train-config.js';
import { FleetError } from '../../runtime/errors.js';
import type { Logger } from '../../runtime/logger.js';
import type { EpochTotals } from '../run-record/metrics-line.js';
import { CheckpointError } from './checkpoint-file.js';

/** A run's checkpoint, in its run directory (--out); one file, replaced atomically at each write. */
export const CHECKPOINT_FILE = 'checkpoint.fleet';

export function checkpointPathOf(outDir: string): string {
  return join(outDir, CHECKPOINT_FILE);
}

/** Which process wrote a checkpoint, and so which one continues it. */
export type CheckpointWriter = 'trainer' | 'coordinator';

/**
 * What every run checkpoint's state holds, whichever process wrote it
 * (`fleet train --workers 1` or `fleet coordinator`). Each adds its own: the
 * trainer its step cursor and dropout counters, the coordinator its sampler
 * and round counters. The arrays are `params` and `momentum` in the model's
 * flat weight layout (src/training/flat-weights.ts) in both.
 */
export interface RunCheckpointState {
  writer: CheckpointWriter;
  /** The validated config (run keys and this machine's); a resume takes the run keys from it. */
  config: TrainConfig;
  /** Optimizer steps of the run so far (global batches). */
  globalStep: number;
  /** The current epoch's training so far (its metrics line's train columns). */
  epochTotals: EpochTotals;
  /** True when written at the end of epochTotals.epoch, after its metrics line and best/. */
  epochDone: boolean;
  /** The best test accuracy so far; epoch 0 (accuracy -1): none yet. */
  best: { epoch: number; accuracy: number };
}

/** Where a checkpoint stands: the epoch it is in (or ended), and who wrote it. */
export interface CheckpointProgress {
  writer: CheckpointWriter;
  epoch: number;
  epochDone: boolean;
}

/**
 * The progress a checkpoint's state records. Coordinator checkpoints of
 * earlier versions have no writer or epochDone: their sampler says it.
 */
export function checkpointProgress(file: string, state: Record<string, unknown>): CheckpointProgress {
  const totals = state.epochTotals as { epoch?: unknown } | undefined;
  const epoch = totals?.epoch;
  if (!Number.isInteger(epoch) || (epoch as number) < 1) throw new CheckpointError(file, 'its state has no epochTotals.epoch');
  const sampler = state.sampler as { applied?: unknown; count?: unknown } | undefined;
  const writer: CheckpointWriter | undefined =
    state.writer === 'trainer' || state.writer === 'coordinator' ? state.writer : sampler ? 'coordinator' : undefined;
  if (!writer) throw new CheckpointError(file, 'its state names no writer (trainer or coordinator)');
  const epochDone = typeof state.epochDone === 'boolean' ? state.epochDone : sampler !== undefined && sampler.applied === sampler.count;
  return { writer, epoch: epoch as number, epochDone };
}

/** --resume of a run whose checkpoint is its last epoch's end: there is nothing left to train. */
export class RunAlreadyFinishedError extends FleetError {
  constructor(
    readonly file: string,
    readonly epoch: number,
  ) {
    super(`nothing to resume: ${file} was written at the end of the run's last epoch (${epoch}); raise --epochs to extend it`);
  }
}

/** --resume (always) where --out holds no checkpoint: a usage error, before anything is written. */
export class NoCheckpointError extends ConfigError {
  constructor(readonly dir: string) {
    super([{ key: 'resume', flag: '--resume', message: `no ${CHECKPOINT_FILE} in ${dir}`, value: true }]);
    this.message = `--resume: no ${CHECKPOINT_FILE} in ${dir}; start without --resume, or use --resume auto (resumes when there is a checkpoint, else starts the run)`;
  }
}

/**
 * A resumed run given another --epochs than its checkpoint's: the schedule
 * (warm-up cap, cosine) is planned over the new total from here on.
 */
export function logEpochsChange(log: Logger, from: number, to: number, plan: { totalSteps: number; warmupSteps: number }): void {
  if (from === to) return;
  log.info(
    { from, to, totalSteps: plan.totalSteps, warmupSteps: plan.warmupSteps },
    `${to > from ? 'extending' : 'shortening'} the run from ${from} to ${to} epochs: the learning-rate schedule is re-planned`,
  );
}
