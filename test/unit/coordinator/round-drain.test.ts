import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoordinatorClosedError } from '../../../services/coordinator/rounds/errors.js';
import { startRounds } from './round-harness.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Two members registered and both given round 0. */
async function twoMembersInRound0(options: { count?: number; epochs?: number } = {}) {
  const rounds = startRounds({ workers: 2, count: options.count ?? 16, batchSize: 4, epochs: options.epochs ?? 1, roundTimeoutMs: 60_000 });
  const a = rounds.controller.register('a');
  const b = rounds.controller.register('b');
  const [a0, b0] = await Promise.all([rounds.controller.nextRound(a, 0), rounds.controller.nextRound(b, 0)]);
  return { ...rounds, a, b, a0: a0!, b0: b0! };
}

describe('drain(): a graceful stop of the rounds', () => {
  it('lets the round in hand close when its contributions arrive, then starts no other', async () => {
    const { controller, sampler, of, contribute, a, b, a0, b0 } = await twoMembersInRound0();
    const drained = controller.drain(5000);
    const waiting = controller.nextRound(a, 1);
    contribute(a, a0);
    contribute(b, b0);
    await expect(drained).resolves.toBe('closed');
    expect(of('roundClosed').map((c) => c.summary.round)).toEqual([0]);
    expect(controller.currentVersion).toBe(2);
    expect(sampler.applied).toBe(8);
    expect(controller.snapshot().epochTotals).toMatchObject({ epoch: 1, samples: 8, lossSum: 8 });

    // No round 1: the waiting worker hears, once stopped, that the coordinator went away (UNAVAILABLE: it retries).
    await vi.advanceTimersByTimeAsync(10_000);
    controller.close('signal SIGTERM', 'stopped');
    await expect(waiting).rejects.toThrow(/coordinator stopped \(signal SIGTERM\): a restarted coordinator resumes the run/);
    expect(controller.state).toBe('stopped');
    await expect(controller.finished).rejects.toBeInstanceOf(CoordinatorClosedError);
    expect(() => controller.register('c')).toThrow(CoordinatorClosedError);
  });

  it('abandons the round in hand at the timeout: its contributions are dropped and the state is that before it', async () => {
    const { controller, sampler, of, contribute, a, b, a0, b0 } = await twoMembersInRound0();
    const before = { version: controller.currentVersion, sampler: JSON.stringify(sampler.state()) };
    contribute(a, a0);
    const drained = controller.drain(5000);
    await vi.advanceTimersByTimeAsync(4999);
    expect(of('roundClosed')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await expect(drained).resolves.toBe('abandoned');

    expect(of('roundClosed')).toEqual([]);
    expect(controller.currentVersion).toBe(before.version);
    expect(JSON.stringify(sampler.state())).toBe(before.sampler);
    // a's contribution is not in the epoch's totals: its samples are trained again after the resume.
    expect(controller.snapshot().epochTotals).toMatchObject({ epoch: 1, samples: 0, lossSum: 0 });
    // b's, arriving late, is refused (no open round) and changes nothing.
    expect(() => contribute(b, b0)).toThrow(/not the open round/);
    expect(controller.currentVersion).toBe(before.version);
    // Nobody was evicted for the abandoned round: the members simply meet the restarted coordinator.
    expect(of('membership').filter((c) => c.change.kind === 'left')).toEqual([]);
    controller.close('signal SIGTERM', 'stopped');
    expect(controller.state).toBe('stopped');
    void b;
  });

  it("is 'idle' when no round is in hand, and a worker registering after it starts none", async () => {
    const { controller, of } = startRounds({ workers: 2, count: 16, batchSize: 4 });
    const a = controller.register('a');
    await expect(controller.drain(5000)).resolves.toBe('idle');
    const waiting = controller.nextRound(a, 0);
    controller.register('b');
    await vi.advanceTimersByTimeAsync(1000);
    expect(of('roundClosed')).toEqual([]);
    controller.close('signal SIGTERM', 'stopped');
    await expect(waiting).rejects.toBeInstanceOf(CoordinatorClosedError);
  });

  it("is 'finished' when the round in hand was the run's last: the run finishes as usual", async () => {
    // 8 samples, batch 4, two members: one round is the whole (only) epoch.
    const { controller, of, contribute, a, b, a0, b0 } = await twoMembersInRound0({ count: 8 });
    const drained = controller.drain(5000);
    contribute(a, a0);
    contribute(b, b0);
    await expect(drained).resolves.toBe('finished');
    await expect(controller.finished).resolves.toBeUndefined();
    expect(controller.state).toBe('finished');
    expect(of('epochEnd')).toHaveLength(1);
    // close(…, 'stopped') after a finish changes nothing.
    controller.close('signal SIGTERM', 'stopped');
    expect(controller.state).toBe('finished');
  });
});
