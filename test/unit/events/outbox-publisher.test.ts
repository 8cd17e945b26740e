import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BusClosedError, EventTooLargeError, FlushTimeoutError } from '../../../src/events/index.js';
import type { StampedEvent } from '../../../src/events/event-stamper.js';
import { OutboxPublisher, type OutboxPublisherOptions } from '../../../src/events/outbox-publisher.js';
import { captureLog } from '../../helpers/capture-log.js';
import { afterFakeTime, settle } from '../../helpers/wait.js';
import { checkpoint, progress, samplePayloads } from '../../fixtures/event-samples.js';

/** A publisher over a scripted `send`; every attempt is recorded as [msgId, outcome]. */
function setup(send: (s: StampedEvent, attempt: number) => Promise<void>, extra: Partial<OutboxPublisherOptions> = {}) {
  const { log, lines } = captureLog();
  const attempts: string[] = [];
  const stored: StampedEvent[] = [];
  const reconnectListeners = new Set<() => void>();
  let n = 0;
  const publisher = new OutboxPublisher({
    run: 'r1',
    source: 'coordinator:t',
    log,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    maxPayloadBytes: () => null,
    onReconnect: (l) => {
      reconnectListeners.add(l);
      return () => reconnectListeners.delete(l);
    },
    send: async (s) => {
      attempts.push(s.msgId);
      await send(s, ++n);
      stored.push(s);
    },
    ...extra,
  });
  const reconnect = () => {
    for (const l of [...reconnectListeners]) l();
  };
  return { publisher, attempts, stored, lines, reconnect };
}

// Back-offs, flush and close timeouts run on fake time.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('outbox publisher', () => {
  it('sends in order, retrying a failed event with the same msgId before the next', async () => {
    const { publisher, attempts, stored, lines } = setup(async (_s, attempt) => {
      if (attempt === 2 || attempt === 3) throw new Error('timeout');
    });
    for (let i = 1; i <= 4; i++) publisher.publish('worker.progress', progress(i));
    // Two back-offs: 5 ms, then 10 ms.
    await afterFakeTime(15, publisher.flush(2000));
    expect(stored.map((s) => s.event.seq)).toEqual([1, 2, 3, 4]);
    expect(attempts).toEqual([
      'r1:coordinator:t:1',
      'r1:coordinator:t:2',
      'r1:coordinator:t:2',
      'r1:coordinator:t:2',
      'r1:coordinator:t:3',
      'r1:coordinator:t:4',
    ]);
    expect(lines.filter((l) => l.msg.startsWith('event publish failed: retrying'))).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'events publishing resumed')).toMatchObject({ failures: 2, msgId: 'r1:coordinator:t:2' });
  });

  it('retries at once on a reconnect instead of waiting out a hung send', async () => {
    const { publisher, attempts, stored, reconnect } = setup((_s, attempt) =>
      attempt === 1 ? new Promise<void>(() => {}) : Promise.resolve(),
    );
    publisher.publish('checkpoint', checkpoint(1));
    // A send that neither fails nor succeeds is not retried on a timer.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toHaveLength(1);
    reconnect();
    await publisher.flush(1000);
    expect(attempts).toEqual(['r1:coordinator:t:1', 'r1:coordinator:t:1']);
    expect(stored).toHaveLength(1);
  });

  it('when full, drops the oldest progress events only, and says so once per burst', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { publisher, stored, lines } = setup(() => gate, { capacity: 4 });
    publisher.publish('checkpoint', checkpoint(1)); // in flight: never dropped
    await settle();
    publisher.publish('checkpoint', checkpoint(2));
    for (let i = 1; i <= 6; i++) publisher.publish('worker.progress', progress(i));
    publisher.publish('round', samplePayloads.round);
    publisher.publish('eval', samplePayloads.eval);
    expect(publisher.pending).toBe(5);
    open();
    await publisher.flush(1000);
    expect(stored.map((s) => [s.event.type, s.event.seq])).toEqual([
      ['checkpoint', 1],
      ['checkpoint', 2],
      ['worker.progress', 8],
      ['round', 9],
      ['eval', 10],
    ]);
    const warned = lines.filter((l) => l.level === 40).map((l) => [l.msg, l.dropped]);
    expect(warned).toEqual([
      ['events outbox full (server unreachable?): dropping the oldest progress events', undefined],
      ['events outbox drained: progress events were dropped while it was full', 5],
    ]);
  });

  it('keeps every non-progress event past capacity', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { publisher, stored, lines } = setup(() => gate, { capacity: 2 });
    for (let v = 1; v <= 5; v++) publisher.publish('checkpoint', checkpoint(v));
    expect(publisher.pending).toBe(5);
    open();
    await publisher.flush(1000);
    expect(stored).toHaveLength(5);
    expect(lines.filter((l) => l.msg.includes('over capacity'))).toHaveLength(1);
  });

  it('flush times out saying how many are still queued; close gives up and refuses more', async () => {
    const { publisher, lines } = setup(() => Promise.reject(new Error('no responders')));
    publisher.publish('checkpoint', checkpoint(1));
    publisher.publish('checkpoint', checkpoint(2));
    const err = await afterFakeTime(
      50,
      publisher.flush(50).catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(FlushTimeoutError);
    expect((err as Error).message).toBe('flush of events of run r1 from coordinator:t timed out after 50 ms: 2 still queued');
    await afterFakeTime(50, publisher.close(50));
    await publisher.whenStopped();
    expect(lines.find((l) => l.level === 50)).toMatchObject({ lost: 2 });
    expect(() => publisher.publish('round', samplePayloads.round)).toThrow(BusClosedError);
  });

  it("refuses an event over the server's size limit at publish", () => {
    const { publisher } = setup(() => Promise.resolve(), { maxPayloadBytes: () => 600 });
    expect(() =>
      publisher.publish('eval', { ...samplePayloads.eval, confusion: Array.from({ length: 10 }, () => Array(10).fill(1000)) }),
    ).toThrow(EventTooLargeError);
    publisher.publish('best', samplePayloads.best);
  });
});
