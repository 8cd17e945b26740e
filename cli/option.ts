import { InvalidArgumentError, Option } from 'commander';
import { formatDuration, type DurationUnit } from '../src/runtime/config/value-parsers.js';
import { durationParser, parsePositiveInteger } from './parse-flag.js';

/** A flag, also read from a FLEET_* (or NATS_*) variable when env is given; the flag wins. */
export function opt(flags: string, description: string, env?: string): Option {
  const option = new Option(flags, description);
  return env ? option.env(env) : option;
}

/**
 * A timeout or wait: 30s, 500ms, 2m, 1h, or a plain number in plainUnit;
 * the parsed value is milliseconds.
 */
export function durationOpt(
  flags: string,
  description: string,
  env: string,
  defaultMs: number,
  { plainUnit = 's', allowZero = false }: { plainUnit?: DurationUnit; allowZero?: boolean } = {},
): Option {
  return opt(flags, `${description} (a duration: 30s, 500ms, 2m; a plain number is in ${plainUnit})`, env)
    .argParser(durationParser(plainUnit, allowZero))
    .default(defaultMs, formatDuration(defaultMs));
}

/** --threads, on every command that computes: the native CPU kernels' threads on this machine. */
export function threadsOpt(): Option {
  return opt('--threads <n>', 'threads of the native CPU kernels (default: every CPU this process may use)', 'FLEET_THREADS').argParser(
    parsePositiveInteger,
  );
}

/**
 * Choices of which only `shown` appear in --help, docs/cli.md and the error
 * message; `hidden` are accepted as well (values for tests, not advertised).
 * commander's own choices() would show and name them all.
 */
export function choicesOf(option: Option, shown: readonly string[], hidden: readonly string[] = []): Option {
  const accepted = new Set([...shown, ...hidden]);
  // choices() sets what help and the docs list; the parser that follows replaces its check.
  return option.choices(shown).argParser((value: string) => {
    if (!accepted.has(value)) throw new InvalidArgumentError(`Allowed choices are ${shown.join(', ')}.`);
    return value;
  });
}
