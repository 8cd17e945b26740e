import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Membership, type MembershipChange } from '../../../services/coordinator/membership/membership.js';
import { indicesOf, startRounds } from './round-harness.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

const silent = pino({ level: 'silent' });

describe('membership', () => {
  it('hands out ids in joining order with the instance tag, and reports joins and leaves', () => {
    const changes: MembershipChange[] = [];
    const members = new Membership({ heartbeatTimeoutMs: 1000, log: silent, openRound: () => null, onChange: (c) => changes.push(c) });
    const ids = ['x', 'y', 'z'].map((name) => members.join(name));
    const tag = ids[0]!.slice(-6);
    expect(tag).toMatch(/^[0-9a-f]{6}$/);
    expect(ids).toEqual([`w000001-${tag}`, `w000002-${tag}`, `w000003-${tag}`]);
    expect(members.ids()).toEqual(ids);
    expect(members.leave(ids[1]!, 'done')).toBe(true);
    expect(members.leave(ids[1]!, 'done')).toBe(false);
    expect(members.heartbeat(ids[1]!)).toBe(false);
    expect(changes).toEqual([
      { kind: 'joined', worker: ids[0], name: 'x', members: 1 },
      { kind: 'joined', worker: ids[1], name: 'y', members: 2 },
      { kind: 'joined', worker: ids[2], name: 'z', members: 3 },
      { kind: 'left', worker: ids[1], reason: 'done', members: 2 },
    ]);
    members.stop();
  });

  it('evicts no one for silence while no round is open', async () => {
    const members = new Membership({ heartbeatTimeoutMs: 1000, log: silent, openRound: () => null });
    const id = members.join('quiet');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(members.has(id)).toBe(true);
    members.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('heartbeat eviction', () => {
  it('evicts a silent member of the open round after the timeout; its batches go back to the pool and come first in the next round', async () => {
    const { controller, sampler, of, contribute } = startRounds({ workers: 2, count: 16, batchSize: 4, heartbeatTimeoutMs: 1000 });
    const a = controller.register('talker');
    const b = controller.register('silent');
    const [a0, b0] = await Promise.all([controller.nextRound(a, 0), controller.nextRound(b, 0)]);
    // a heartbeats every 250 ms; b says nothing.
    const beat = setInterval(() => controller.heartbeat(a), 250);

    await vi.advanceTimersByTimeAsync(1000);
    expect(controller.memberCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(250);
    expect(controller.memberCount()).toBe(1);
    expect(controller.heartbeat(b)).toBe(false);
    expect(
      of('membership')
        .map((c) => c.change)
        .at(-1),
    ).toEqual({ kind: 'left', worker: b, reason: 'evicted: no heartbeat for 1 s', members: 1 });
    // The round is still open: it waits for a, the last member with work.
    expect(of('roundClosed')).toEqual([]);

    contribute(a, a0!);
    const a1 = await controller.nextRound(a, 1);
    expect(of('roundClosed').map((c) => c.summary)).toMatchObject([{ round: 0, samples: 4 }]);
    expect(sampler.applied).toBe(4);
    expect(indicesOf(a1!).slice(0, 4)).toEqual(indicesOf(b0!));
    clearInterval(beat);
    controller.close('test over');
  });

  it('spares a member that already contributed to the open round', async () => {
    const { controller, contribute } = startRounds({ workers: 2, count: 16, batchSize: 4, heartbeatTimeoutMs: 1000 });
    const a = controller.register('done');
    const b = controller.register('busy');
    const [a0] = await Promise.all([controller.nextRound(a, 0), controller.nextRound(b, 0)]);
    contribute(a, a0!);
    const beat = setInterval(() => controller.heartbeat(b), 250);
    await vi.advanceTimersByTimeAsync(5000);
    expect(controller.memberCount()).toBe(2);
    clearInterval(beat);
    controller.close('test over');
  });

  it('a member that leaves is not waited for: the round closes with the rest', async () => {
    const { controller, of, contribute } = startRounds({ workers: 2, count: 16, batchSize: 4 });
    const a = controller.register('a');
    const b = controller.register('b');
    const [a0] = await Promise.all([controller.nextRound(a, 0), controller.nextRound(b, 0)]);
    contribute(a, a0!);
    controller.leave(b, 'shutting down');
    expect((await controller.nextRound(a, 1))!.round).toBe(1);
    expect(of('roundClosed').map((c) => c.summary.arrivals.length)).toEqual([1]);
    controller.close('test over');
  });
});
