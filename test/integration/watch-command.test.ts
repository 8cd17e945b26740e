import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectNatsBus, STREAM_NAME, type EventBus } from '../../src/events/index.js';
import { captureLog } from '../helpers/capture-log.js';
import { startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { runFleet } from '../helpers/run-fleet.js';
import { samplePayloads } from '../fixtures/event-samples.js';

/**
 * `fleet watch` against a real nats-server, run as a user runs it (the
 * compiled CLI, stdout a pipe): it never creates the events stream, says what
 * it waits for, and writes whole lines without a terminal.
 */

let server: NatsServerHandle;
const raw: NatsConnection[] = [];
const buses: EventBus[] = [];
const children: FleetProcess[] = [];

// A fresh server (no stream) for each test.
beforeEach(async () => {
  if (natsServerAvailable()) server = await startNatsServer();
});
afterEach(async () => {
  for (const p of children.splice(0)) p.child.kill('SIGKILL');
  for (const bus of buses.splice(0)) await bus.close(1000).catch(() => {});
  for (const nc of raw.splice(0)) await nc.close().catch(() => {});
  await server?.dispose();
});
afterAll(() => {
  for (const p of children) p.child.kill('SIGKILL');
});

async function streamNames(): Promise<string[]> {
  const nc = await connect({ servers: server.url });
  raw.push(nc);
  const names: string[] = [];
  for await (const name of (await jetstreamManager(nc)).streams.names()) names.push(name);
  return names;
}

/** A publisher as the coordinator has one: the real bus, which creates the stream. */
async function publisherBus(): Promise<EventBus> {
  const bus = await connectNatsBus({ servers: server.url, name: 'watch-test', log: captureLog().log });
  buses.push(bus);
  return bus;
}

describe.skipIf(!natsServerAvailable())('fleet watch on a real nats-server', () => {
  it('on a fresh server: creates no stream, says it is waiting, then follows the run a publisher starts', async () => {
    const watch = startFleet(['watch', '--nats', server.url]);
    children.push(watch);
    await watch.waitFor(
      new RegExp(
        `^fleet watch: no FLEET_EVENTS stream on ${server.url} yet: waiting for a run to publish \\(started with --nats ${server.url}\\)$`,
      ),
      30_000,
    );
    // It has re-checked (once a second) meanwhile: still nothing created.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await streamNames()).toEqual([]);

    const bus = await publisherBus();
    expect(await streamNames()).toEqual([STREAM_NAME]);
    const p = bus.publisher('late-run', 'coordinator:t1');
    p.publish('run.started', samplePayloads['run.started']);
    p.publish('run.finished', { status: 'finished', version: 0, epochs: 3, reason: null });
    await p.flush();
    expect(await watch.exited).toEqual({ code: 0, signal: null });
    expect(watch.lines.some((l) => l.startsWith('time=') && l.includes(' run=late-run type=run.finished status=finished'))).toBe(true);
  }, 60_000);

  it('--run with a typo: names the run it waits for and the runs the stream does hold; --wait-timeout gives up', async () => {
    const bus = await publisherBus();
    const p = bus.publisher('other-run', 'coordinator:t2');
    p.publish('run.started', samplePayloads['run.started']);
    p.publish('worker.joined', samplePayloads['worker.joined']);
    await p.flush();
    const newer = bus.publisher('newer-run', 'coordinator:t4');
    newer.publish('run.started', samplePayloads['run.started']);
    await newer.flush();
    // The older run publishes again: it is the most recent now.
    p.publish('round', samplePayloads.round);
    await p.flush();
    const r = await runFleet(['watch', '--nats', server.url, '--run', 'nosuchrun', '--wait-timeout', '2s'], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    const said = r.stderr.split('\n').filter((l) => l.startsWith('fleet'));
    const known = 'the stream holds 2 runs, newest first: other-run, newer-run';
    expect(said[0]).toBe(`fleet watch: waiting for run nosuchrun: no events yet on ${server.url}; ${known}`);
    expect(said.at(-1)).toBe(
      `fleet: gave up after 2s (--wait-timeout): waiting for run nosuchrun: no events yet on ${server.url}; ${known}`,
    );
    expect(r.stdout).toBe('');
  }, 60_000);

  it('without a terminal: one line per event, lines far over 100 characters whole', async () => {
    const bus = await publisherBus();
    const run = 'long-lines';
    const name = `gpu-node-${'x'.repeat(180)}`;
    const leftReason = `evicted: ${'silent for longer than the heartbeat timeout; '.repeat(9)}`.trim();
    const failure = `coordinator failed: ${'the checkpoint directory is not writable on this volume; '.repeat(30)}`.trim();
    const p = bus.publisher(run, 'coordinator:t3');
    p.publish('run.started', samplePayloads['run.started']);
    p.publish('worker.joined', { worker: 'w-1', name, members: 1 });
    p.publish('round', samplePayloads.round);
    p.publish('worker.left', { worker: 'w-1', reason: leftReason, members: 0 });
    p.publish('run.finished', { status: 'failed', version: 7, epochs: 3, reason: failure });
    await p.flush();

    const r = await runFleet(['watch', '--nats', server.url, '--run', run], { timeoutMs: 30_000 });
    // A failed run: exit 1, after its last event.
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`fleet: run ${run} failed`);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => /type=(\S+)/.exec(l)?.[1])).toEqual(['run.started', 'worker.joined', 'round', 'worker.left', 'run.finished']);
    expect(lines[1]).toContain(` name=${name} `);
    expect(lines[3]).toContain(` reason=${JSON.stringify(leftReason)} `);
    expect(lines[4]).toContain(` reason=${JSON.stringify(failure)} `);
    for (const i of [1, 3, 4]) expect(lines[i]!.length).toBeGreaterThan(200);
    expect(r.stdout).not.toContain('\x1b');
    // The stream is the publisher's, as it made it: the watcher changed nothing.
    expect(await streamNames()).toEqual([STREAM_NAME]);
  }, 60_000);
});
