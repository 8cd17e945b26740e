import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNatsBus, type AnyFleetEvent, type EventBus } from '../../src/events/index.js';
import { samplePayloads } from '../fixtures/event-samples.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { captureLog } from '../helpers/capture-log.js';
import { runFleet } from '../helpers/run-fleet.js';
import { until } from '../helpers/wait.js';
import { containerEngineAbsent } from './container-engine.js';

/** NATS as a cluster runs it: the official image (not Debian's nats-server 2.9), JetStream on. */
const NATS_IMAGE = 'nats:2.10';

describe.skipIf(containerEngineAbsent() !== null)(`fleet's events on NATS from its official image (${NATS_IMAGE} -js)`, () => {
  let nats: StartedTestContainer;
  let url: string;
  let root: string;
  const buses: EventBus[] = [];

  beforeAll(async () => {
    // Loaded here: a machine without a container engine skips these tests without paying for the import.
    const { GenericContainer, Wait } = await import('testcontainers');
    nats = await new GenericContainer(NATS_IMAGE)
      .withCommand(['-js'])
      .withExposedPorts(4222)
      .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
      .start();
    url = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
    root = await mkdtemp(join(tmpdir(), 'fleet-containers-nats-'));
  });

  afterAll(async () => {
    for (const bus of buses) await bus.close(1000).catch(() => {});
    await nats?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function openBus(name: string): Promise<EventBus> {
    const bus = await connectNatsBus({ servers: url, name, log: captureLog().log });
    buses.push(bus);
    return bus;
  }

  it("fleet's bus makes its stream there, publishes, and a follower reads the events in order", async () => {
    const bus = await openBus('containers-bus');
    const publisher = bus.publisher('image-run', 'coordinator:containers');
    publisher.publish('run.started', samplePayloads['run.started']);
    publisher.publish('round', samplePayloads.round);
    await publisher.flush();
    expect(await bus.latestRun()).toBe('image-run');
    const seen: AnyFleetEvent[] = [];
    const follower = await openBus('containers-follower');
    await follower.follow('image-run', (e) => seen.push(e), { from: 'start' });
    await until('two events followed', () => seen.length === 2);
    expect(seen.map((e) => [e.seq, e.type])).toEqual([
      [1, 'run.started'],
      [2, 'round'],
    ]);
  });

  it("fleet train --nats <the container> publishes a run's events there, run.started to run.finished", async () => {
    const dataDir = join(root, 'data');
    await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 128, testCount: 50, pattern: 'learnable', seed: 4 });
    const run = 'containers-nats-run';
    const result = await runFleet(
      [
        'train',
        '--workers',
        '1',
        '--nats',
        url,
        '--run-id',
        run,
        '--model',
        'tiny',
        '--epochs',
        '1',
        '--batch-size',
        '32',
        '--data-dir',
        dataDir,
        '--allow-partial',
        '--backend',
        'wasm',
        '--progress',
        'log',
        '--out',
        join(root, 'run'),
      ],
      { timeoutMs: 180_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const seen: AnyFleetEvent[] = [];
    const bus = await openBus('containers-reader');
    await bus.follow(run, (e) => seen.push(e), { from: 'start' });
    await until('run.finished read back', () => seen.some((e) => e.type === 'run.finished'));
    const types = new Set(seen.map((e) => e.type));
    for (const type of ['run.started', 'round', 'checkpoint', 'eval', 'run.finished']) expect(types, type).toContain(type);
    expect(seen.every((e) => e.run === run)).toBe(true);
  });
});
