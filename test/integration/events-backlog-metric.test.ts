import { afterAll, describe, expect, it } from 'vitest';
import { connectNatsBus, type EventBus } from '../../src/events/index.js';
import { coordinatorMetrics, evaluatorMetrics } from '../../src/runtime/metrics/index.js';
import { samplePayloads } from '../fixtures/event-samples.js';
import { captureLog } from '../helpers/capture-log.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { samplesOf } from '../helpers/prometheus-text.js';
import { until } from '../helpers/wait.js';

/**
 * fleet_events_pending (alert FleetNatsBacklog) reads a real NATS bus
 * publisher's outbox at each scrape: events published while the nats-server
 * is down are counted, and the count returns to 0 once the server is back and
 * JetStream has stored them.
 */

const servers: NatsServerHandle[] = [];
const buses: EventBus[] = [];
afterAll(async () => {
  for (const b of buses) await b.close().catch(() => {});
  for (const s of servers) await s.dispose();
});

const pendingIn = async (registry: { metrics(): Promise<string> }) =>
  samplesOf(await registry.metrics(), 'fleet_events_pending', 'run').get('backlog');

describe.skipIf(!natsServerAvailable())('fleet_events_pending (real nats-server)', () => {
  it('counts the events not yet stored while NATS is down, and drops to 0 once they are', async () => {
    const server = await startNatsServer();
    servers.push(server);
    const { log } = captureLog();
    const bus = await connectNatsBus({ servers: server.url, name: 'backlog-test', log, publishTimeoutMs: 500 });
    buses.push(bus);
    const publisher = bus.publisher('backlog', 'coordinator:b1');
    const coordinator = coordinatorMetrics({ run: 'backlog' });
    const evaluator = evaluatorMetrics({ run: 'backlog' });
    // Before a publisher is tracked the gauge says 0 (the series exists from the first scrape).
    expect(await pendingIn(coordinator.registry)).toBe(0);
    coordinator.eventsPending.track(publisher);
    evaluator.eventsPending.track(publisher);

    publisher.publish('run.started', samplePayloads['run.started']);
    await publisher.flush(10_000);
    expect(await pendingIn(coordinator.registry)).toBe(0);

    await server.stop();
    for (let i = 0; i < 3; i++) publisher.publish('checkpoint', { ...samplePayloads.checkpoint, version: 10 + i });
    expect(await pendingIn(coordinator.registry)).toBe(3);
    expect(await pendingIn(evaluator.registry)).toBe(3);

    await server.restart();
    await publisher.flush(30_000);
    await until('backlog scraped as 0', async () => (await pendingIn(coordinator.registry)) === 0, 5000, 50);
  }, 60_000);
});
