import { InvalidArgumentError } from 'commander';

/** Flag parsers that reject text that is not a number, naming the value. */
export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`'${value}' is not a number.`);
  return n;
}

export function parseInteger(value: string): number {
  const n = parseNumber(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`'${value}' is not a whole number.`);
  return n;
}

/** A number > 0 (timeouts). */
export function parsePositive(value: string): number {
  const n = parseNumber(value);
  if (!(n > 0)) throw new InvalidArgumentError(`'${value}' must be greater than 0.`);
  return n;
}

/** A number >= 0 (waits that may be skipped). */
export function parseNonNegative(value: string): number {
  const n = parseNumber(value);
  if (n < 0) throw new InvalidArgumentError(`'${value}' must not be negative.`);
  return n;
}

/** A whole number >= 0 (counts). */
export function parseCount(value: string): number {
  const n = parseInteger(value);
  if (n < 0) throw new InvalidArgumentError(`'${value}' must not be negative.`);
  return n;
}

/** A TCP port, 0 (any free one) to 65535. */
export function parsePort(value: string): number {
  const n = parseInteger(value);
  if (n < 0 || n > 65_535) throw new InvalidArgumentError(`'${value}' is not a port (0 to 65535).`);
  return n;
}
