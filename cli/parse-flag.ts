import { InvalidArgumentError } from 'commander';
import { parseDuration, ValueSyntaxError, type DurationUnit } from '../src/runtime/config/value-parsers.js';

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

/** A duration flag's parser: milliseconds from 30s, 500ms, 2m, 1h or a plain number in plainUnit; > 0 unless allowZero. */
export function durationParser(plainUnit: DurationUnit, allowZero = false): (value: string) => number {
  return (value) => {
    let ms: number;
    try {
      ms = parseDuration(value, plainUnit);
    } catch (err) {
      if (err instanceof ValueSyntaxError) throw new InvalidArgumentError(`${err.message}.`);
      throw err;
    }
    if (!allowZero && ms <= 0) throw new InvalidArgumentError(`'${value}' must be greater than 0.`);
    return ms;
  };
}

/** A whole number >= 1 (thread counts). */
export function parsePositiveInteger(value: string): number {
  const n = parseInteger(value);
  if (n < 1) throw new InvalidArgumentError(`'${value}' must be at least 1.`);
  return n;
}

/** --workers on `fleet train`: a whole number, or 'auto' (one per GPU, else one per CPU). */
export function parseWorkerCount(value: string): number | 'auto' {
  return value.trim() === 'auto' ? 'auto' : parseInteger(value);
}

/** --gpus: GPU indices, comma-separated, each once: "0,1,3" -> [0, 1, 3]. */
export function parseGpuList(value: string): number[] {
  const gpus: number[] = [];
  for (const item of value.split(',').map((s) => s.trim())) {
    if (!/^\d+$/.test(item))
      throw new InvalidArgumentError(`'${item}' is not a GPU index (whole numbers from 0, comma-separated: 0,1,2,3).`);
    const gpu = Number(item);
    if (gpus.includes(gpu)) throw new InvalidArgumentError(`GPU ${gpu} is listed twice.`);
    gpus.push(gpu);
  }
  return gpus;
}
