/**
 * `fleet coordinator --workers`: how many members a run needs (MIN: below
 * that no round starts) and admits (MAX: a registration beyond is refused).
 * torchrun's `--nnodes MIN:MAX`. It belongs to the cluster, not to the run:
 * a resumed run takes it from its own command line.
 */
export interface WorkerRange {
  readonly min: number;
  readonly max: number;
  /**
   * Written MIN:MAX: no round starts while fewer than MIN are members. Plain
   * N (N:N for starting and admitting) keeps fleet's fault tolerance: the run
   * goes on with fewer after a loss.
   */
  readonly elastic: boolean;
}

/** The most members a run admits (the run config's bound on --workers). */
export const MAX_WORKERS = 1024;

/** A --workers value that is not N or MIN:MAX within bounds; the message says what is wrong. */
export class WorkerRangeError extends Error {
  override name = 'WorkerRangeError';
}

/** "N" (N:N) or "MIN:MAX", 1 <= MIN <= MAX <= 1024; throws WorkerRangeError saying what is wrong. */
export function parseWorkerRange(text: string): WorkerRange {
  const parts = text.trim().split(':');
  if (parts.length > 2 || parts.some((part) => !/^\s*\d+\s*$/.test(part))) {
    throw new WorkerRangeError(`'${text}' is not N or MIN:MAX (whole numbers, e.g. 4 or 2:4)`);
  }
  const [min, max = min] = parts.map(Number) as [number, number?];
  if (min < 1) throw new WorkerRangeError(`'${text}': MIN must be at least 1`);
  if (max < min) throw new WorkerRangeError(`'${text}': MIN must not exceed MAX`);
  if (max > MAX_WORKERS) throw new WorkerRangeError(`'${text}': at most ${MAX_WORKERS} workers`);
  return { min, max, elastic: parts.length === 2 };
}

/** As the flag is written. */
export function formatWorkerRange(range: WorkerRange): string {
  return range.elastic ? `${range.min}:${range.max}` : String(range.max);
}
