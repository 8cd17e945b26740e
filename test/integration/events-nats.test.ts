import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNatsBus,
  NatsUnavailableError,
  subjectOf,
  type AnyFleetEvent,
  type EventBus,
  type NatsBusOptions,
} from '../../src/events/index.js';
import { captureLog, type CapturedLine } from '../helpers/capture-log.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { until } from '../helpers/wait.js';
import { checkpoint, progress, samplePayloads } from '../fixtures/event-samples.js';

let server: NatsServerHandle;
const opened: EventBus[] = [];
const raw: NatsConnection[] = [];

beforeAll(async () => {
  if (natsServerAvailable()) server = await startNatsServer();
});

afterAll(async () => {
  for (const bus of opened) await bus.close(1000).catch(() => {});
  for (const nc of raw) await nc.close().catch(() => {});
  await server?.dispose();
});

async function openBus(options: Partial<NatsBusOptions> = {}): Promise<{ bus: EventBus; lines: CapturedLine[] }> {
  const { log, lines } = captureLog();
  const bus = await connectNatsBus({ servers: server.url, name: 'events-test', log, redeliveryDelayMs: 200, ...options });
  opened.push(bus);
  return { bus, lines };
}

const versionOf = (e: AnyFleetEvent) => (e.type === 'checkpoint' || e.type === 'eval' ? e.data.version : -1);

describe.skipIf(!natsServerAvailable())('events bus on NATS JetStream (a real nats-server)', () => {
  it('latestRun is null on an empty stream, then the run of the newest run.started', async () => {
    const { bus } = await openBus();
    expect(bus.kind).toBe('nats');
    expect(await bus.latestRun()).toBeNull();
    const first = bus.publisher('latest-1', 'coordinator:a');
    first.publish('run.started', samplePayloads['run.started']);
    await first.flush();
    expect(await bus.latestRun()).toBe('latest-1');
    const second = bus.publisher('latest-2', 'coordinator:b');
    second.publish('run.started', samplePayloads['run.started']);
    second.publish('round', samplePayloads.round);
    await second.flush();
    expect(await bus.latestRun()).toBe('latest-2');
  });

  it("a follower reads a publisher's events in order, seq 1..n; a late one reads what it missed; msgIds are stored once", async () => {
    const { bus } = await openBus();
    const run = 'follow-a';
    const early: AnyFleetEvent[] = [];
    const sub = await bus.follow(run, (e) => early.push(e), { from: 'start' });
    const p = bus.publisher(run, 'coordinator:f1');
    p.publish('run.started', samplePayloads['run.started']);
    for (let i = 1; i <= 50; i++) p.publish(i % 10 === 0 ? 'checkpoint' : 'worker.progress', i % 10 === 0 ? checkpoint(i) : progress(i));
    // The same evaluation published twice (re-done after a crash) is one event.
    p.publish('eval', samplePayloads.eval, { msgId: `eval:${run}:15` });
    bus.publisher('follow-other', 'coordinator:x').publish('round', samplePayloads.round);
    await p.flush();
    const again = bus.publisher(run, 'evaluator:f2');
    again.publish('eval', samplePayloads.eval, { msgId: `eval:${run}:15` });
    await again.flush();
    await until('52 events followed', () => early.length === 52);
    expect(early.map((e) => e.seq)).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
    expect(early.every((e) => e.run === run && e.source === 'coordinator:f1')).toBe(true);
    expect(early[0]?.type).toBe('run.started');
    expect(early.at(-1)?.type).toBe('eval');

    const late: AnyFleetEvent[] = [];
    const onlyNew: AnyFleetEvent[] = [];
    await bus.follow(run, (e) => late.push(e), { from: 'start' });
    await bus.follow(run, (e) => onlyNew.push(e), { from: 'new' });
    p.publish('epoch', samplePayloads.epoch);
    await until('late follower caught up', () => late.length === 53 && onlyNew.length === 1);
    expect(late.map((e) => e.seq)).toEqual(Array.from({ length: 53 }, (_, i) => i + 1));
    expect(onlyNew.map((e) => [e.type, e.seq])).toEqual([['epoch', 53]]);
    await sub.stop();
  });

  it('a durable consumer stopped after k events and started again gets exactly the rest; a failed event comes again', async () => {
    const { bus, lines } = await openBus();
    const run = 'durable-b';
    const p = bus.publisher(run, 'coordinator:d1');
    for (let v = 1; v <= 10; v++) {
      p.publish('checkpoint', checkpoint(v));
      p.publish('worker.progress', progress(v));
    }
    await p.flush();

    const first: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sub1 = await bus.consume(run, ['checkpoint'], 'evaluator-b', async (e) => {
      first.push(versionOf(e));
      if (first.length === 4) await gate; // stop() is called while the 4th is in hand
    });
    await until('4 handled', () => first.length === 4);
    const stopping = sub1.stop();
    release();
    await stopping;
    expect(first).toEqual([1, 2, 3, 4]);

    const attempts: number[] = [];
    const handled: number[] = [];
    let failed = false;
    const t0 = Date.now();
    const sub2 = await bus.consume(run, ['checkpoint'], 'evaluator-b', async (e) => {
      attempts.push(versionOf(e));
      if (versionOf(e) === 7 && !failed) {
        failed = true;
        throw new Error('evaluation failed');
      }
      handled.push(versionOf(e));
    });
    await until('the rest handled', () => handled.length === 6);
    expect(handled).toEqual([5, 6, 7, 8, 9, 10]);
    expect(attempts).toEqual([5, 6, 7, 7, 8, 9, 10]);
    // Neither a lost pull nor ack_wait (30 s) was waited out: the restart resumed at once.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(lines.some((l) => l.msg.includes('handler failed') && l.subject === subjectOf(run, 'checkpoint'))).toBe(true);
    await sub2.stop();
  });

  it('a malformed message is reported, terminated and skipped; the consumer and the follower go on', async () => {
    const { bus, lines } = await openBus();
    const run = 'malformed-d';
    const nc = await connect({ servers: server.url });
    raw.push(nc);
    const p = bus.publisher(run, 'evaluator:m1');
    p.publish('eval', { ...samplePayloads.eval, version: 1 });
    await p.flush();
    nc.publish(subjectOf(run, 'eval'), 'this is not JSON');
    nc.publish(
      subjectOf(run, 'eval'),
      JSON.stringify({
        type: 'eval',
        run,
        source: 'evil:1',
        seq: 1,
        time: new Date().toISOString(),
        data: { ...samplePayloads.eval, accuracy: 7 },
      }),
    );
    await nc.flush();
    p.publish('eval', { ...samplePayloads.eval, version: 2 });
    await p.flush();

    const consumed: number[] = [];
    await bus.consume(run, ['eval'], 'report-d', async (e) => {
      consumed.push(versionOf(e));
    });
    const followed: number[] = [];
    const reported: Array<[string, string]> = [];
    await bus.follow(run, (e) => followed.push(versionOf(e)), {
      from: 'start',
      onMalformed: (subject, err) => reported.push([subject, err.message]),
    });
    await until('both valid evals consumed and followed', () => consumed.length === 2 && followed.length === 2);
    expect(consumed).toEqual([1, 2]);
    expect(followed).toEqual([1, 2]);
    expect(reported.map(([s]) => s)).toEqual([subjectOf(run, 'eval'), subjectOf(run, 'eval')]);
    expect(reported[0]?.[1]).toContain(`malformed event on ${subjectOf(run, 'eval')}: not UTF-8 JSON`);
    expect(reported[1]?.[1]).toContain(`malformed event on ${subjectOf(run, 'eval')}: data.accuracy: Too big`);
    const warned = lines.filter((l) => l.level === 40 && l.msg === 'malformed event skipped');
    expect(warned.map((l) => l.err)).toEqual(reported.map(([, m]) => m));
  });

  it('a nats-server killed and restarted under a publisher and a durable consumer loses nothing, stores nothing twice, keeps order', async () => {
    // Short ack wait: an ack lost in the kill is redelivered after this, not after the default 30 s.
    const { bus, lines } = await openBus({ publishTimeoutMs: 1000, ackWaitMs: 3000 });
    const run = 'restart-c';
    const total = 200;
    const received: AnyFleetEvent[] = [];
    await bus.consume(run, ['worker.progress', 'round', 'checkpoint'], 'watch-c', async (e) => {
      received.push(e);
    });
    const followed: AnyFleetEvent[] = [];
    await bus.follow(run, (e) => followed.push(e), { from: 'start' });
    const p = bus.publisher(run, 'coordinator:k1');
    let published = 0;
    const publishUpTo = (n: number): void => {
      for (let i = published + 1; i <= n; i++) {
        if (i % 20 === 0) p.publish('checkpoint', checkpoint(i));
        else if (i % 5 === 0) p.publish('round', { ...samplePayloads.round, round: i });
        else p.publish('worker.progress', progress(i));
      }
      published = n;
    };
    // Events before the kill, some still being sent as it dies, some published
    // while the server is down (the bus has seen it go), the rest after the restart.
    publishUpTo(70);
    await until('70 events received', () => received.length >= 70);
    publishUpTo(100);
    await server.kill();
    await until('the bus saw the server go', () => lines.some((l) => l.msg.startsWith('NATS disconnected')));
    publishUpTo(150);
    await server.restart();
    publishUpTo(total);
    const t0 = Date.now();
    await p.flush(20_000);
    const flushedMs = Date.now() - t0;
    await until('every event consumed', () => received.length >= total, 20_000);
    const consumedMs = Date.now() - t0;

    // A marker published last: a follower that has it has read everything stored before it.
    p.publish('epoch', samplePayloads.epoch);
    await p.flush();
    await until('the marker followed', () => followed.some((e) => e.type === 'epoch'), 20_000);
    if (process.env.LOG_TO_STDERR === '1')
      process.stderr.write(`after restart: flushed in ${flushedMs} ms, consumed in ${consumedMs} ms, followed in ${Date.now() - t0} ms\n`);
    const expectedSeqs = Array.from({ length: total }, (_, i) => i + 1);
    expect(received.map((e) => e.seq)).toEqual(expectedSeqs);
    expect(followed.map((e) => e.seq)).toEqual([...expectedSeqs, total + 1]);
    // What the stream holds, read afresh from the start: each event once, in order.
    const stored: AnyFleetEvent[] = [];
    const { bus: reader } = await openBus();
    await reader.follow(run, (e) => stored.push(e), { from: 'start' });
    await until('the marker read back', () => stored.some((e) => e.type === 'epoch'));
    expect(stored.map((e) => e.seq)).toEqual([...expectedSeqs, total + 1]);
    expect(stored.filter((e) => e.type === 'checkpoint').map(versionOf)).toEqual([20, 40, 60, 80, 100, 120, 140, 160, 180, 200]);
    expect(lines.some((l) => l.msg.startsWith('NATS disconnected'))).toBe(true);
    expect(lines.some((l) => l.msg === 'NATS reconnected')).toBe(true);
  });

  it('a second service with other stream limits updates them instead of failing', async () => {
    await openBus({ maxAgeMs: 3600_000, maxBytes: 1024 ** 2 });
    const nc = await connect({ servers: server.url });
    raw.push(nc);
    const info = await (await jetstreamManager(nc)).streams.info('FLEET_EVENTS');
    expect(info.config).toMatchObject({
      max_age: 3600e9,
      max_bytes: 1024 ** 2,
      duplicate_window: 3600e9,
      discard: 'old',
      storage: 'file',
      subjects: ['fleet.>'],
    });
    await openBus(); // and back to the defaults
    expect((await (await jetstreamManager(nc)).streams.info('FLEET_EVENTS')).config.max_bytes).toBe(1024 ** 3);
  });

  it('refuses to connect where no server listens, saying where', async () => {
    const { log } = captureLog();
    const started = Date.now();
    const err = await connectNatsBus({ servers: 'nats://127.0.0.1:1', name: 'nowhere', log, connectTimeoutMs: 2000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NatsUnavailableError);
    expect((err as Error).message).toContain('nats://127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
