import { describe, expect, it } from 'vitest';
import { EpochProgress } from '../../../services/coordinator/rounds/epoch-progress.js';
import type { RoundSampler } from '../../../services/coordinator/rounds/round-types.js';

/**
 * What follows a closed round: checkpoints every N rounds and, with
 * --checkpoint-every-seconds, once that long has passed since the last
 * checkpoint (an epoch end counts), on a clock the test moves.
 */
function harness(o: { everyRounds: number; everyMs?: number; roundsPerEpoch: number; epochs: number }) {
  let clock = 0;
  let inEpoch = 0;
  let epoch = 1;
  const sampler = {
    get epoch() {
      return epoch;
    },
    get epochDone() {
      return inEpoch >= o.roundsPerEpoch;
    },
    nextEpoch() {
      epoch += 1;
      inEpoch = 0;
    },
  } as unknown as RoundSampler;
  const log: string[] = [];
  const progress = new EpochProgress({
    sampler,
    epochs: o.epochs,
    checkpointEveryRounds: o.everyRounds,
    ...(o.everyMs !== undefined ? { checkpointEveryMs: o.everyMs } : {}),
    now: () => clock,
    hooks: {
      onEpochEnd: async (totals) => {
        log.push(`epoch ${totals.epoch} end at ${clock}`);
      },
      onCheckpoint: async (round, reason) => {
        log.push(`round ${round} ${reason} at ${clock}`);
      },
    },
  });
  let round = 0;
  /** One round that took `ms`. */
  const closeRound = async (ms: number) => {
    clock += ms;
    inEpoch += 1;
    return progress.afterRound(round++, round);
  };
  return { log, closeRound };
}

describe('checkpoints after a round', () => {
  it('every N rounds only, without --checkpoint-every-seconds, however long the rounds', async () => {
    const h = harness({ everyRounds: 3, roundsPerEpoch: 10, epochs: 1 });
    for (let i = 0; i < 7; i++) await h.closeRound(600_000);
    expect(h.log).toEqual(['round 2 every N rounds at 1800000', 'round 5 every N rounds at 3600000']);
  });

  it('once the time has passed since the last checkpoint, the epoch end included', async () => {
    const h = harness({ everyRounds: 0, everyMs: 300_000, roundsPerEpoch: 4, epochs: 2 });
    // Epoch 1: 120 s rounds: the third round ends 360 s in, past 300 s.
    for (let i = 0; i < 4; i++) await h.closeRound(120_000);
    // Epoch 2: the clock starts again at the epoch end (480 s): 200 s rounds reach 300 s at the second.
    for (let i = 0; i < 4; i++) await h.closeRound(200_000);
    expect(h.log).toEqual([
      'round 2 every N seconds at 360000',
      'epoch 1 end at 480000',
      'round 5 every N seconds at 880000',
      'epoch 2 end at 1280000',
    ]);
  });

  it('by rounds or by time, whichever comes first, each resetting the clock', async () => {
    const h = harness({ everyRounds: 2, everyMs: 250_000, roundsPerEpoch: 100, epochs: 1 });
    await h.closeRound(10_000); // round 0
    await h.closeRound(10_000); // round 1: by rounds at 20 s
    await h.closeRound(300_000); // round 2: 300 s since the last: by time
    await h.closeRound(10_000); // round 3: by rounds
    expect(h.log).toEqual(['round 1 every N rounds at 20000', 'round 2 every N seconds at 320000', 'round 3 every N rounds at 330000']);
  });
});
