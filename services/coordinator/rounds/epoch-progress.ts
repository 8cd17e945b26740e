import type { ControllerHooks, EpochTotals, RoundSampler } from './round-types.js';

export interface EpochProgressOptions {
  sampler: RoundSampler;
  hooks: Pick<ControllerHooks, 'onEpochEnd' | 'onCheckpoint'>;
  /** The run's last epoch. */
  epochs: number;
  /** A checkpoint every N rounds between epoch ends; 0 = only at epoch ends. */
  checkpointEveryRounds: number;
}

/**
 * The current epoch's training totals and what follows a closed round: at
 * an epoch's end the epoch-end hook (which checkpoints), then the next epoch
 * or the end of the run; otherwise a checkpoint every N rounds.
 */
export class EpochProgress {
  private totals: EpochTotals;

  constructor(
    private readonly o: EpochProgressOptions,
    resumed?: EpochTotals,
  ) {
    this.totals = resumed ? { ...resumed } : fresh(o.sampler.epoch);
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
      if (totals.epoch >= this.o.epochs) return 'finished';
      this.o.sampler.nextEpoch();
      this.totals = fresh(this.o.sampler.epoch);
    } else if (this.o.checkpointEveryRounds > 0 && (round + 1) % this.o.checkpointEveryRounds === 0) {
      await this.o.hooks.onCheckpoint(round);
    }
    return 'continue';
  }
}

function fresh(epoch: number): EpochTotals {
  return { epoch, samples: 0, lossSum: 0, correct: 0 };
}
