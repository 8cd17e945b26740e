import type { EventPayloads } from '../../src/events/index.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';

/**
 * --score-checkpoints: which checkpoints the evaluator scores.
 * - epoch-ends: each epoch's end (its metrics line); periodic checkpoints
 *   (--checkpoint-every, a stop) are acknowledged and left;
 * - latest: epoch ends, and periodic ones while no epoch end is being
 *   scored, newest first: one a newer checkpoint arrives after, before its
 *   turn, is skipped (superseded), and one being scored when an epoch end
 *   arrives is given up (so the end of training is scored without delay);
 * - every: each checkpoint in the order written.
 */
export const SCORE_CHECKPOINTS_CHOICES = ['epoch-ends', 'latest', 'every'] as const;
export type ScoreCheckpoints = (typeof SCORE_CHECKPOINTS_CHOICES)[number];

type Checkpoint = EventPayloads['checkpoint'];

/** A periodic checkpoint's score given up for an epoch end that arrived meanwhile. */
export class ScoreGivenUpError extends FleetError {
  constructor(
    readonly version: number,
    readonly by: number,
  ) {
    super(`the score of periodic checkpoint ${version} was given up: epoch-end checkpoint ${by} arrived`);
  }
}

/**
 * The order in which the evaluator scores the checkpoint events its durable
 * consumer hands it, one score at a time (they share the model). An epoch
 * end (and, with `every`, any checkpoint) is scored inside its event's
 * handler: it is acknowledged once scored, so a crash scores it again. With
 * `latest` a periodic checkpoint is acknowledged at once and scored when the
 * evaluator is idle, best effort: a crash or a stop forgets it.
 */
export class CheckpointSchedule {
  /** The score in progress (or queued behind one): each waits for the one before. */
  private busy: Promise<void> = Promise.resolve();
  /** The newest periodic checkpoint not yet started (latest). */
  private waiting: Checkpoint | null = null;
  /** The periodic checkpoint taken from `waiting` and not yet done, with the means to give it up. */
  private current: { version: number; giveUp: AbortController } | null = null;
  private idle: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly o: {
      mode: ScoreCheckpoints;
      /** Whether the evaluator has this version's result already (its events are published again: scored or not, it goes through `score`). */
      isDone: (version: number) => boolean;
      /** Fetches, scores, records and publishes a version; `giveUp` aborts a periodic one between test batches. */
      score: (c: Checkpoint, giveUp?: AbortSignal) => Promise<void>;
      log: Logger;
    },
  ) {}

  /** A checkpoint event's handler: resolves when the event may be acknowledged. */
  async onCheckpoint(c: Checkpoint): Promise<void> {
    const { mode, log } = this.o;
    if (mode === 'every' || this.o.isDone(c.version)) return this.exclusive(() => this.o.score(c));
    if (!c.epochEnd) {
      if (mode === 'epoch-ends') {
        log.debug({ version: c.version, epoch: c.epoch }, 'periodic checkpoint not scored (--score-checkpoints epoch-ends)');
        return;
      }
      this.supersede(c);
      this.waiting = c;
      this.idle ??= this.drain().finally(() => {
        this.idle = null;
      });
      return;
    }
    // Newer than any periodic one waiting or being scored: those are superseded.
    this.supersede(c);
    const current = this.current;
    if (current && !current.giveUp.signal.aborted) {
      current.giveUp.abort(new ScoreGivenUpError(current.version, c.version));
      log.info({ version: current.version, by: c.version }, 'periodic checkpoint given up for an epoch end');
    }
    return this.exclusive(() => this.o.score(c));
  }

  /** No more scores: a periodic one waiting is dropped, one in progress given up; resolves once none runs. */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting = null;
    this.current?.giveUp.abort(new FleetError('the evaluator is stopping'));
    await this.idle;
    await this.busy;
  }

  private supersede(by: Checkpoint): void {
    if (!this.waiting) return;
    this.o.log.info({ version: this.waiting.version, by: by.version }, 'periodic checkpoint superseded by a newer one: not scored');
    this.waiting = null;
  }

  /** Periodic checkpoints, newest first, while there are any (latest). */
  private async drain(): Promise<void> {
    while (this.waiting && !this.closed) {
      const c = this.waiting;
      this.waiting = null;
      const giveUp = new AbortController();
      this.current = { version: c.version, giveUp };
      try {
        await this.exclusive(async () => {
          if (!giveUp.signal.aborted) await this.o.score(c, giveUp.signal);
        });
      } catch (err) {
        // Given up (logged then), or stopping; else acknowledged already: nothing redelivers it, and the next epoch end is scored anyway.
        if (!giveUp.signal.aborted) this.o.log.error({ err, version: c.version }, 'periodic checkpoint could not be scored: left');
      } finally {
        this.current = null;
      }
    }
  }

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.busy.then(fn);
    this.busy = run.catch(() => {});
    return run;
  }
}
