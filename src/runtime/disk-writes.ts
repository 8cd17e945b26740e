import { FleetError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * What a run writes that a full or failing disk can refuse: the checkpoint,
 * metrics.jsonl, best/, the evaluator's state, other run files (the ledger's
 * applied-epoch-N.json). The label of the event, the metric and the logs.
 */
export const WRITE_TARGETS = ['checkpoint', 'metrics', 'best', 'evaluator-state', 'run-file'] as const;
export type WriteTarget = (typeof WRITE_TARGETS)[number];

/**
 * The errno codes of a disk that cannot take the write: full (ENOSPC), over
 * quota (EDQUOT), failing (EIO), or remounted read-only after errors (EROFS).
 * A run survives these (the previous file stays, a later write retries);
 * anything else (EACCES, a bug) still fails the write's caller.
 */
export const DISK_ERROR_CODES = ['ENOSPC', 'EDQUOT', 'EIO', 'EROFS'] as const;

/** The errno code when `err` is a disk that cannot take a write, else null. */
export function diskErrorCode(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && (DISK_ERROR_CODES as readonly string[]).includes(code) ? code : null;
}

/** One refused write, as logged, published (run.write_failed) and counted. */
export interface WriteFailure {
  what: WriteTarget;
  path: string;
  code: string;
  message: string;
  /** Failures of this target in a row, this one included (1: the last write of it succeeded). */
  consecutive: number;
  /** run/round/epoch fields of the write, for the log and the event. */
  round: number | null;
  epoch: number | null;
}

/**
 * A run stops because what it must keep cannot be written: the path, the
 * errno and why giving up (the final checkpoint, or too many in a row). The
 * last checkpoint written is still there and resumable.
 */
export class WriteFailedError extends FleetError {
  constructor(
    readonly what: WriteTarget,
    readonly path: string,
    readonly code: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot write the ${what} ${path} (${code}): ${reason}; the last checkpoint written is kept: free space, then resume`, options);
  }
}

/**
 * Checkpoints in a row that may fail before the run stops: with a full disk
 * a run goes on (the epoch-end checkpoints retry), but not for ever, since
 * everything since the last good checkpoint is at risk.
 */
export const MAX_CONSECUTIVE_CHECKPOINT_FAILURES = 3;

/**
 * Runs a service's writes of run files: a write the disk refuses
 * (diskErrorCode) is logged, told to `onFailure` (the event and the metric)
 * and returned, so the caller goes on with the previous file in
 * place; other errors are thrown as they are. It counts failures in a row per
 * target, so the caller can decide when to stop (WriteFailedError).
 */
export class DiskWrites {
  private readonly inARow = new Map<WriteTarget, number>();

  constructor(
    private readonly log: Logger,
    private readonly onFailure: (failure: WriteFailure) => void = () => {},
  ) {}

  /** Failures of `what` since its last successful write. */
  consecutive(what: WriteTarget): number {
    return this.inARow.get(what) ?? 0;
  }

  /** null when `write` succeeded, the failure when the disk refused it (already logged and reported). */
  async attempt(
    what: WriteTarget,
    path: string,
    at: { round?: number | null; epoch?: number | null },
    write: () => Promise<unknown>,
  ): Promise<WriteFailure | null> {
    try {
      await write();
    } catch (err) {
      const code = diskErrorCode(err);
      if (code === null) throw err;
      const consecutive = this.consecutive(what) + 1;
      this.inARow.set(what, consecutive);
      const failure: WriteFailure = {
        what,
        path,
        code,
        message: (err as Error).message,
        consecutive,
        round: at.round ?? null,
        epoch: at.epoch ?? null,
      };
      this.log.error(
        { what, path, code, consecutive, round: failure.round, epoch: failure.epoch, err },
        `${what} not written (${code}): the previous file is kept, a later write retries`,
      );
      try {
        this.onFailure(failure);
      } catch (reportErr) {
        this.log.error({ err: reportErr, what }, 'write failure not reported');
      }
      return failure;
    }
    if (this.consecutive(what) > 0) this.log.info({ what, path, after: this.consecutive(what) }, `${what} written again after failures`);
    this.inARow.set(what, 0);
    return null;
  }
}

/**
 * Files written once each (the ledger's applied-epoch-N.json, one an epoch), where a later write does not
 * replace an earlier one: a file the disk refused is kept pending (path and writer) and tried again, in
 * order, before each later file, so space freed later loses none of them. Pending files live in memory only.
 */
export class WriteOnceFiles {
  private readonly pending = new Map<string, { at: { round?: number | null; epoch?: number | null }; write: () => Promise<unknown> }>();

  constructor(
    private readonly writes: DiskWrites,
    private readonly what: WriteTarget,
  ) {}

  /** Writes the pending files, then this one; returns the paths still unwritten (this one last, if refused). */
  async write(path: string, at: { round?: number | null; epoch?: number | null }, write: () => Promise<unknown>): Promise<string[]> {
    this.pending.delete(path);
    this.pending.set(path, { at, write });
    for (const [p, file] of [...this.pending]) {
      if ((await this.writes.attempt(this.what, p, file.at, file.write)) === null) this.pending.delete(p);
    }
    return [...this.pending.keys()];
  }
}
