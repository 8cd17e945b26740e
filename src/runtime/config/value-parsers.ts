import { FleetError } from '../errors.js';

/** Text that is not a value of the expected kind; callers add which flag, variable or file key it was. */
export class ValueSyntaxError extends FleetError {
  constructor(
    readonly text: string,
    readonly expected: string,
  ) {
    super(`'${text}' is not ${expected}`);
  }
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** The one boolean syntax of flags' values, FLEET_* variables and config files: 1/0, true/false, yes/no, on/off, any case. */
export function parseBoolean(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (TRUE.has(t)) return true;
  if (FALSE.has(t)) return false;
  throw new ValueSyntaxError(text, 'a boolean (1/0, true/false, yes/no, on/off)');
}

export type DurationUnit = 'ms' | 's' | 'm' | 'h';
const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * The one duration syntax: a number with a unit (500ms, 30s, 2m, 1h) or a
 * plain number in the flag's documented unit. Returns milliseconds.
 */
export function parseDuration(text: string, plainUnit: DurationUnit): number {
  const match = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match) throw new ValueSyntaxError(text, `a duration (e.g. 500ms, 30s, 2m, 1h; a plain number is in ${plainUnit})`);
  const unit = (match[2]?.toLowerCase() ?? plainUnit) as DurationUnit;
  return Math.round(Number(match[1]) * UNIT_MS[unit]);
}

/** A duration in milliseconds as the shortest exact text parseDuration reads back (help defaults, forwarded flags). */
export function formatDuration(ms: number): string {
  for (const unit of ['h', 'm', 's'] as const) if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  return `${ms}ms`;
}
