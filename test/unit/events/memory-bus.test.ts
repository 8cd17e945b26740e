import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BusClosedError,
  DurableInUseError,
  MalformedEventError,
  createMemoryBus,
  type AnyFleetEvent,
  type EventBus,
  type EventPayloads,
} from '../../../src/events/index.js';
import { captureLog } from '../../helpers/capture-log.js';
import { settle } from '../../helpers/wait.js';
import { checkpoint, progress, samplePayloads } from '../../fixtures/event-samples.js';

let bus: EventBus;
// The bus delivers from microtasks and waits only for redelivery delays: fake time decides those.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  await bus.close(1000);
  vi.useRealTimers();
});

describe('memory bus', () => {
  it("delivers a run's events in order with seq 1..n per publisher, to late followers too", async () => {
    const { log } = captureLog();
    bus = createMemoryBus(log);
    expect(bus.kind).toBe('memory');
    const a = bus.publisher('r1', 'coordinator:a');
    const b = bus.publisher('r1', 'evaluator:b');
    const other = bus.publisher('r2', 'coordinator:c');
    const early: AnyFleetEvent[] = [];
    await bus.follow('r1', (e) => early.push(e), { from: 'start' });
    a.publish('run.started', samplePayloads['run.started']);
    for (let i = 1; i <= 5; i++) a.publish('worker.progress', progress(i));
    other.publish('run.started', samplePayloads['run.started']);
    b.publish('eval', samplePayloads.eval);
    await a.flush();
    await settle();
    expect(early.map((e) => [e.source, e.seq, e.type])).toEqual([
      ['coordinator:a', 1, 'run.started'],
      ...[2, 3, 4, 5, 6].map((seq) => ['coordinator:a', seq, 'worker.progress']),
      ['evaluator:b', 1, 'eval'],
    ]);
    const rounds = early.flatMap((e) => (e.type === 'worker.progress' ? [e.data.round] : []));
    expect(rounds).toEqual([1, 2, 3, 4, 5]);

    const seqsBefore = early.map((e) => e.seq);
    const late: AnyFleetEvent[] = [];
    await bus.follow('r1', (e) => late.push(e), { from: 'start' });
    const onlyNew: AnyFleetEvent[] = [];
    await bus.follow('r1', (e) => onlyNew.push(e), { from: 'new' });
    a.publish('epoch', samplePayloads.epoch);
    await settle();
    expect(late.map((e) => e.seq)).toEqual([...seqsBefore, 7]);
    expect(onlyNew).toHaveLength(1);
    expect(early).toHaveLength(8);
    expect(onlyNew[0]).toMatchObject({ type: 'epoch', seq: 7 });
    expect(await bus.latestRun()).toBe('r2');
  });

  it('validates on publish, in the caller', () => {
    bus = createMemoryBus(captureLog().log);
    const p = bus.publisher('r1', 'coordinator:a');
    expect(() => p.publish('eval', { ...samplePayloads.eval, accuracy: 2 })).toThrow(MalformedEventError);
    expect(() => p.publish('eval', { ...samplePayloads.eval, accuracy: 2 })).toThrow(/malformed event on fleet\.r1\.eval: data\.accuracy/);
    expect(() => bus.publisher('bad.run', 'x')).toThrow(/invalid run id "bad\.run"/);
  });

  it('stores a msgId once (an eval re-done after a crash)', async () => {
    bus = createMemoryBus(captureLog().log);
    const first = bus.publisher('r1', 'evaluator:a');
    const second = bus.publisher('r1', 'evaluator:b');
    first.publish('eval', samplePayloads.eval, { msgId: 'eval:r1:15' });
    second.publish('eval', { ...samplePayloads.eval, accuracy: 0.5 }, { msgId: 'eval:r1:15' });
    second.publish('best', samplePayloads.best);
    const seen: AnyFleetEvent[] = [];
    await bus.follow('r1', (e) => seen.push(e), { from: 'start' });
    await settle();
    expect(seen.map((e) => [e.source, e.type])).toEqual([
      ['evaluator:a', 'eval'],
      ['evaluator:b', 'best'],
    ]);
  });

  it('a second consume with the same durable name resumes where the first stopped', async () => {
    bus = createMemoryBus(captureLog().log);
    const p = bus.publisher('r1', 'coordinator:a');
    for (let v = 1; v <= 6; v++) {
      p.publish('checkpoint', checkpoint(v));
      p.publish('worker.progress', progress(v));
    }
    const first: number[] = [];
    const sub = await bus.consume('r1', ['checkpoint'], 'evaluator', async (e) => {
      if (e.type === 'checkpoint') first.push(e.data.version);
    });
    await settle();
    expect(first).toEqual([1, 2, 3, 4, 5, 6]);
    await expect(bus.consume('r1', ['checkpoint'], 'evaluator', async () => {})).rejects.toBeInstanceOf(DurableInUseError);
    await sub.stop();
    const stoppedAt = first.length;
    p.publish('checkpoint', checkpoint(7));
    const second: number[] = [];
    await bus.consume('r1', ['checkpoint'], 'evaluator', async (e) => {
      if (e.type === 'checkpoint') second.push(e.data.version);
    });
    await settle();
    expect([...first, ...second]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(first.length).toBe(stoppedAt);
    // Another name starts from the beginning.
    const other: number[] = [];
    await bus.consume('r1', ['checkpoint'], 'report', async (e) => {
      other.push((e.data as EventPayloads['checkpoint']).version);
    });
    await settle();
    expect(other).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('redelivers an event whose handler threw, before any later one', async () => {
    const { log, warnings } = captureLog();
    bus = createMemoryBus(log, { redeliveryDelayMs: 20 });
    const p = bus.publisher('r1', 'coordinator:a');
    p.publish('checkpoint', checkpoint(1));
    p.publish('checkpoint', checkpoint(2));
    const calls: number[] = [];
    let failuresLeft = 2;
    await bus.consume('r1', ['checkpoint'], 'evaluator', async (e) => {
      const version = (e.data as EventPayloads['checkpoint']).version;
      calls.push(version);
      if (version === 1 && failuresLeft-- > 0) throw new Error('evaluation failed');
    });
    // Redelivered after 20 ms, then 40 ms: not before.
    await settle();
    expect(calls).toEqual([1]);
    await vi.advanceTimersByTimeAsync(19);
    expect(calls).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(39);
    expect(calls).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([1, 1, 1, 2]);
    expect(warnings().filter((w) => w.msg.includes('handler failed'))).toHaveLength(2);
  });

  it('refuses use after close', async () => {
    bus = createMemoryBus(captureLog().log);
    const p = bus.publisher('r1', 'coordinator:a');
    await bus.close();
    expect(() => p.publish('round', samplePayloads.round)).toThrow(BusClosedError);
    await expect(bus.follow('r1', () => {}, { from: 'start' })).rejects.toBeInstanceOf(BusClosedError);
  });
});
