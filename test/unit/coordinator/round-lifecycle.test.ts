import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoordinatorClosedError, UnknownWorkerError, VersionUnavailableError } from '../../../services/coordinator/rounds/errors.js';
import { indicesOf, startRounds } from './round-harness.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('a round closes at its deadline', () => {
  it('with the members that contributed; the others are evicted and their batches served first in the next round', async () => {
    const { controller, sampler, of, contribute } = startRounds({ workers: 2, count: 16, batchSize: 4, roundTimeoutMs: 1000 });
    const a = controller.register('a');
    const b = controller.register('b');
    const [a0, b0] = await Promise.all([controller.nextRound(a, 0), controller.nextRound(b, 0)]);
    expect(a0!.deadlineUnixMs).toBe(Date.now() + 1000);
    contribute(a, a0!);

    await vi.advanceTimersByTimeAsync(999);
    expect(of('roundClosed')).toEqual([]);
    expect(controller.currentVersion).toBe(1);

    await vi.advanceTimersByTimeAsync(1);
    const [closed] = of('roundClosed').map((c) => c.summary);
    expect(closed).toMatchObject({ round: 0, version: 2, evicted: [b], samples: 4, members: 2 });
    expect(closed!.arrivals.map((x) => x.worker)).toEqual([a]);
    expect(of('membership').map((c) => c.change)).toContainEqual({
      kind: 'left',
      worker: b,
      reason: 'evicted: no contribution to round 0 by the deadline',
      members: 1,
    });
    expect(controller.memberCount()).toBe(1);
    expect(sampler.applied).toBe(4);
    expect(sampler.pooled).toBe(4);

    const a1 = await controller.nextRound(a, 1);
    expect(indicesOf(a1!).slice(0, 4)).toEqual(indicesOf(b0!));
    await expect(controller.nextRound(b, 1)).rejects.toBeInstanceOf(UnknownWorkerError);
    controller.close('test over');
  });

  it('a round where every member contributed closes at once, before its deadline', async () => {
    const { controller, of, contribute } = startRounds({ workers: 2, count: 16, batchSize: 4, roundTimeoutMs: 1000 });
    const ids = ['a', 'b'].map((n) => controller.register(n));
    const work = await Promise.all(ids.map((id) => controller.nextRound(id, 0)));
    for (const [i, id] of ids.entries()) contribute(id, work[i]!);
    const next = await controller.nextRound(ids[0]!, 1);
    expect(next!.round).toBe(1);
    expect(of('roundClosed').map((c) => c.summary.evicted)).toEqual([[]]);
    // No time passed on the fake clock: the next round's deadline is a full timeout away.
    expect(next!.deadlineUnixMs).toBe(Date.now() + 1000);
    controller.close('test over');
  });
});

describe('close()', () => {
  it('rejects every pending wait, fails the run and clears its timers', async () => {
    const { controller, contribute } = startRounds({ workers: 2, count: 16, batchSize: 4, roundTimeoutMs: 1000, heartbeatTimeoutMs: 1000 });
    const a = controller.register('a');
    // Waiting for a second worker: no round yet.
    const first = controller.nextRound(a, 0);
    const b = controller.register('b');
    const [a0, b0] = await Promise.all([first, controller.nextRound(b, 0)]);
    contribute(a, a0!);
    contribute(b, b0!);
    await controller.nextRound(a, 1);
    const later = controller.nextRound(a, 5);
    const alsoLater = controller.nextRound(b, 5);

    controller.close('shutdown');
    await expect(later).rejects.toThrow(CoordinatorClosedError);
    await expect(alsoLater).rejects.toThrow(/coordinator closed: shutdown/);
    await expect(controller.finished).rejects.toThrow(CoordinatorClosedError);
    expect(controller.state).toBe('failed');
    expect(() => controller.register('c')).toThrow(CoordinatorClosedError);
    expect(() => controller.nextRound(a, 1)).toThrow(CoordinatorClosedError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects a worker waiting for the run to start', async () => {
    const { controller } = startRounds({ workers: 2, count: 16, batchSize: 4 });
    const waiting = controller.nextRound(controller.register('a'), 0);
    expect(controller.state).toBe('waiting');
    controller.close('shutdown');
    await expect(waiting).rejects.toThrow(CoordinatorClosedError);
  });
});

describe('checkpoint cadence', () => {
  it('onCheckpoint every N rounds but not at an epoch end, onEpochEnd at each epoch end, then the run finishes', async () => {
    // 16 samples, one worker at batch 4: rounds 0-3 are epoch 1, 4-7 epoch 2.
    const { controller, calls, contribute } = startRounds({
      workers: 1,
      count: 16,
      batchSize: 4,
      epochs: 2,
      checkpointEveryRounds: 2,
      retainVersions: 1,
      onCheckpoint: (c) => c.retainCurrentVersion(),
    });
    const id = controller.register('solo');
    let next = 0;
    for (;;) {
      const work = await controller.nextRound(id, next);
      if (!work) break;
      contribute(id, work);
      next = work.round + 1;
    }
    await controller.finished;
    expect(next).toBe(8);
    expect(controller.state).toBe('finished');
    expect(calls.filter((c) => c.hook === 'checkpoint' || c.hook === 'epochEnd')).toEqual([
      { hook: 'checkpoint', round: 1 },
      { hook: 'epochEnd', totals: { epoch: 1, samples: 16, lossSum: 16, correct: 0 }, version: 5 },
      { hook: 'checkpoint', round: 5 },
      { hook: 'epochEnd', totals: { epoch: 2, samples: 16, lossSum: 16, correct: 0 }, version: 9 },
    ]);
    // Round 5's checkpoint (version 7) replaced round 1's (version 3): one retained.
    expect(controller.retainedVersions()).toEqual([7]);
    expect(() => controller.acquireParameters(3)).toThrow(VersionUnavailableError);
    expect(await controller.nextRound(id, next)).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });
});
