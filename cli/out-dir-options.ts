import type { Option } from 'commander';
import { existsSync } from 'node:fs';
import { FlagError } from '../src/runtime/config/flag-error.js';
import { checkOutDir, type OutDirMode } from '../src/runtime/out-dir.js';
import { checkpointPathOf } from '../src/training/checkpoint/run-checkpoint.js';
import { opt } from './option.js';
import { resumeWhen } from './resume-option.js';

/** --overwrite, on the commands that start a run (fleet train, fleet coordinator). */
export function overwriteOpt(): Option {
  return opt(
    '--overwrite',
    "replace the run in a non-empty --out: fleet's own files there (config.json, metrics.jsonl, best/, checkpoint.fleet, logs/...) are deleted first, any other file is kept",
    'FLEET_OVERWRITE',
  ).default(false);
}

/**
 * What the run may find in --out: its own run to continue (--resume, or
 * --resume auto with a checkpoint there), an earlier run to replace
 * (--overwrite, or --resume auto without a checkpoint: a restarted pod that
 * never checkpointed starts over), or nothing. --resume and --overwrite
 * contradict each other.
 */
export function outDirMode(o: { overwrite: unknown; resume: 'always' | 'auto' | 'never'; hasCheckpoint: boolean }): OutDirMode {
  const overwrite = o.overwrite === true;
  if (overwrite && o.resume !== 'never') {
    throw new FlagError(
      '--overwrite',
      true,
      '--overwrite and --resume: pass one of them (--resume continues the run in --out, --overwrite replaces it)',
    );
  }
  if (o.resume === 'always') return 'resume';
  if (o.resume === 'auto') return o.hasCheckpoint ? 'resume' : 'overwrite';
  return overwrite ? 'overwrite' : 'new';
}

/** The mode of a command's --out (--overwrite, --resume) checked against the folder: refused (exit 2) with nothing written. */
export async function checkRunOut(flags: Record<string, unknown>, outDir: string): Promise<OutDirMode> {
  const mode = outDirMode({
    overwrite: flags.overwrite,
    resume: resumeWhen(flags.resume),
    hasCheckpoint: existsSync(checkpointPathOf(outDir)),
  });
  await checkOutDir(outDir, { mode });
  return mode;
}
