import type { ControllerHooks, EpochTotals, RoundSampler } from './round-types.js';

export interface EpochProgressOptions {
  sampler: RoundSampler;
  hooks: Pick<ControllerHooks, 'onEpochEnd' | 'onCheckpoint'>;
  /** The run's last epoch. */
  epochs: number;
  /** A checkpoint every N rounds between epoch ends; 0 = only at epoch ends. */
  checkpointEveryRounds: number;
  /** Also one once this long has passed since the last (epoch end, periodic, or the start); 0 = by rounds only. */
  checkpointEveryMs?: number;
  /** The clock for checkpointEveryMs (tests pass their own). */
  now?: () => number;
}

/**
 * The current epoch's training totals and what follows a closed round: at
 * an epoch's end the epoch-end hook (which checkpoints), then the next epoch
 * or the end of the run; otherwise a checkpoint every N rounds.
 */
export class EpochProgress {
  private totals: EpochTotals;
  private readonly now: () => number;
  private lastCheckpointAt: number;

  constructor(
    private readonly o: EpochProgressOptions,
    resumed?: EpochTotals,
  ) {
    this.totals = resumed ? { ...resumed } : fresh(o.sampler.epoch);
    this.now = o.now ?? Date.now;
    this.lastCheckpointAt = this.now();
  }

  /** A copy of the totals so far. */
  get current(): EpochTotals {
    return { ...this.totals };
  }

  add(samples: number, lossSum: number, correct: number): void {
    this.totals.samples += samples;
    this.totals.lossSum += lossSum;
    this.totals.correct += correct;
  }

  /** After round `round` closed with the master at `version`; 'finished' when that was the run's last round. */
  async afterRound(round: number, version: number): Promise<'finished' | 'continue'> {
    if (this.o.sampler.epochDone) {
      const totals = this.totals;
      await this.o.hooks.onEpochEnd(totals, version);
      this.lastCheckpointAt = this.now();
      if (totals.epoch >= this.o.epochs) return 'finished';
      this.o.sampler.nextEpoch();
      this.totals = fresh(this.o.sampler.epoch);
    } else {
      const everyMs = this.o.checkpointEveryMs ?? 0;
      const byRounds = this.o.checkpointEveryRounds > 0 && (round + 1) % this.o.checkpointEveryRounds === 0;
      // By time too: with long rounds (big models, slow links) N rounds can be hours of work at risk.
      const byTime = everyMs > 0 && this.now() - this.lastCheckpointAt >= everyMs;
      if (byRounds || byTime) {
        await this.o.hooks.onCheckpoint(round, byRounds ? 'every N rounds' : 'every N seconds');
        this.lastCheckpointAt = this.now();
      }
    }
    return 'continue';
  }
}

function fresh(epoch: number): EpochTotals {
  return { epoch, samples: 0, lossSum: 0, correct: 0 };
}
