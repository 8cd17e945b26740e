import type { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import {
  ConfigError,
  FLAG_OF,
  type FlagKey,
  MACHINE_KEYS,
  machineConfigOf,
  RUN_KEYS,
  type TrainConfig,
} from '../src/runtime/config/train-config.js';
import { parseBoolean, ValueSyntaxError } from '../src/runtime/config/value-parsers.js';
import type { Logger } from '../src/runtime/logger.js';
import { resumePoint, type ResumePoint } from '../src/training/checkpoint/resume-config.js';
import { checkpointPathOf, NoCheckpointError, RunAlreadyFinishedError } from '../src/training/checkpoint/run-checkpoint.js';
import { originOf } from './config-stages.js';
import { opt } from './option.js';
import { parseCount } from './parse-flag.js';

const MACHINE_FLAGS = MACHINE_KEYS.map((k) => FLAG_OF[k]).join(', ');

/** --resume [when], the same on `fleet train` and `fleet coordinator`. */
export function resumeOpt(): Option {
  return opt(
    '--resume [when]',
    `continue from --out's checkpoint.fleet, with the run config saved in it (only this machine's ${MACHINE_FLAGS}, --epochs to extend the run, and --workers for a distributed run (its global batch stays the checkpoint's) are taken from the flags; any other run flag given is ignored with a warning naming it); 'auto': when there is one, else start the run (a restarted pod)`,
    'FLEET_RESUME',
  ).default(false);
}

/** --checkpoint-every: in optimizer steps for `fleet train`, in rounds for `fleet coordinator`. */
export function checkpointEveryOpt(unit: string, defaultValue: number): Option {
  return opt('--checkpoint-every <n>', `checkpoint every N ${unit} (and at each epoch end); 0: epoch ends only`, 'FLEET_CHECKPOINT_EVERY')
    .argParser(parseCount)
    .default(defaultValue);
}

/** --resume (a boolean, or 'always'), --resume auto, or not. */
export function resumeWhen(value: unknown): 'always' | 'auto' | 'never' {
  if (value === undefined || typeof value === 'boolean') return value === true ? 'always' : 'never';
  if (value === 'always' || value === 'auto') return value;
  try {
    return parseBoolean(String(value)) ? 'always' : 'never';
  } catch (err) {
    if (!(err instanceof ValueSyntaxError)) throw err;
    throw new ConfigError([{ key: 'resume', flag: '--resume', message: 'expected always, auto or a boolean', value }]);
  }
}

/** A resume point, with the run flags this command line gave that the checkpoint's config overrides. */
export interface ResumeStart extends ResumePoint {
  ignored: { flag: string; given: unknown; kept: unknown }[];
}

/**
 * Where a command starts: null (a new run), or the checkpoint's resume point
 * with the run config resumed from it. --resume without a checkpoint is a
 * usage error; --epochs counts only when given (flag, variable or file), to
 * extend the run, and may not go below the epoch the checkpoint reached.
 */
export async function resumeFrom(flags: Record<string, unknown>, command: Command, fromFlags: TrainConfig): Promise<ResumeStart | null> {
  const when = resumeWhen(flags.resume);
  if (when === 'never') return null;
  const file = checkpointPathOf(fromFlags.outDir);
  if (!existsSync(file)) {
    if (when === 'auto') return null;
    throw new NoCheckpointError(fromFlags.outDir);
  }
  const origin = originOf(command);
  const given = (key: FlagKey) => {
    const option = command.options.find((o) => o.long === FLAG_OF[key]);
    const source = option && command.getOptionValueSource(option.attributeName());
    return source === 'cli' || source === 'env' || source === 'config';
  };
  const point = await resumePoint(
    file,
    machineConfigOf(fromFlags),
    given('epochs') ? { epochs: { value: fromFlags.epochs, flag: origin('epochs') } } : {},
  );
  // The worker count belongs to the cluster, not the run: a coordinator's run (elastic, its global batch fixed) takes
  // --workers from this command line. A one-process checkpoint continues in one process: --workers is ignored there.
  const takesWorkers = given('workers') && point.writer !== 'trainer';
  if (takesWorkers) point.config.workers = fromFlags.workers;
  const ignored = RUN_KEYS.filter(
    (key) =>
      key !== 'epochs' &&
      // Derived, no flag of its own: --batch-size (a run key too) is what is named when it differs.
      key !== 'globalBatch' &&
      !(key === 'workers' && takesWorkers) &&
      given(key) &&
      JSON.stringify(fromFlags[key]) !== JSON.stringify(point.config[key]),
  ).map((key) => ({ flag: origin(key), given: fromFlags[key], kept: point.config[key] }));
  return { ...point, ignored };
}

/**
 * What a resume says first: the run flags it ignores (a resumed run keeps
 * its checkpoint's run config). Then, for a checkpoint at the end of the
 * run's last epoch: with --resume auto (a restarted pod) the run is done
 * again, said and exit 0; with --resume a failure (there is nothing to
 * train). True when the command should stop.
 */
export function finishedAlready(point: ResumeStart | null, flags: Record<string, unknown>, log: Logger): boolean {
  if (point && point.ignored.length > 0) {
    log.warn(
      { ignored: point.ignored },
      `resumed with the run config of the checkpoint: ${point.ignored.map((i) => i.flag).join(', ')} ignored (a resume takes only --epochs, --workers and this machine's flags)`,
    );
  }
  if (!point?.finished) return false;
  const file = checkpointPathOf(point.config.outDir);
  if (resumeWhen(flags.resume) !== 'auto') throw new RunAlreadyFinishedError(file, point.epoch);
  log.info({ file, epoch: point.epoch }, 'run already finished: nothing to resume');
  return true;
}
