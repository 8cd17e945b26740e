import { InvalidArgumentError, type Option } from 'commander';
import { parseWorkerRange, WorkerRangeError, type WorkerRange } from '../src/runtime/config/worker-range.js';
import { opt } from './option.js';

/** `fleet coordinator --workers N|MIN:MAX` (torchrun's form); the parsed value is a WorkerRange. */
export function workersRangeOpt(): Option {
  return opt(
    '--workers <n|min:max>',
    'workers the run needs and admits: N (exactly N), or MIN:MAX: the run starts with MIN, admits more up to MAX as they join (a registration beyond MAX is refused: the worker retries, a spare), and waits while fewer than MIN remain. The global batch (--batch-size x MAX at the start) stays fixed; a resume takes --workers from its own command line',
    'FLEET_WORKERS',
  )
    .argParser(parseWorkersFlag)
    .default({ min: 1, max: 1, elastic: false } satisfies WorkerRange, '1');
}

function parseWorkersFlag(value: string): WorkerRange {
  try {
    return parseWorkerRange(value);
  } catch (err) {
    if (err instanceof WorkerRangeError) throw new InvalidArgumentError(`${err.message}.`);
    throw err;
  }
}

export function isWorkerRange(value: unknown): value is WorkerRange {
  return typeof value === 'object' && value !== null && typeof (value as WorkerRange).min === 'number';
}
