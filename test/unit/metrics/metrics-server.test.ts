import { Agent, get } from 'node:http';
import { connect } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  coordinatorMetrics,
  evaluatorMetrics,
  startMetricsServer,
  workerMetrics,
  type MetricsServer,
} from '../../../src/runtime/metrics/index.js';

const open: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function serve(registry: Registry): Promise<MetricsServer> {
  const server = await startMetricsServer(registry, { host: '127.0.0.1', port: 0 });
  open.push(server);
  return server;
}

const lines = (text: string): string[] => text.split('\n');

/**
 * The value of one series, matched on its full label set in any order:
 * prom-client orders a histogram's own labels after the default ones.
 */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const line of lines(text)) {
    const m = /^([a-z_:]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]);
    if (JSON.stringify(got.sort()) === want) return Number(m[3]);
  }
  return undefined;
}

describe('startMetricsServer', () => {
  it('serves the registry on /metrics with its labels, values and content type', async () => {
    const m = coordinatorMetrics({ run: 'r1' });
    m.rounds.inc(3);
    m.exchangeBytes.inc({ direction: 'in' }, 1024);
    m.members.set(4);
    m.workerImagesPerSecond.set({ worker: 'w2' }, 812.5);
    m.contributionsRefused.inc({ reason: 'stale' });
    m.roundSeconds.observe(0.3);
    const server = await serve(m.registry);
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);

    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const body = lines(await res.text());
    expect(body).toContain('fleet_rounds_total{service="coordinator",run="r1"} 3');
    expect(body).toContain('fleet_exchange_bytes_total{direction="in",service="coordinator",run="r1"} 1024');
    expect(body).toContain('fleet_exchange_bytes_total{direction="out",service="coordinator",run="r1"} 0');
    expect(body).toContain('fleet_members{service="coordinator",run="r1"} 4');
    expect(body).toContain('fleet_worker_images_per_second{worker="w2",service="coordinator",run="r1"} 812.5');
    expect(body).toContain('fleet_contributions_refused_total{reason="stale",service="coordinator",run="r1"} 1');
    expect(body).toContain('fleet_round_seconds_bucket{le="0.25",service="coordinator",run="r1"} 0');
    expect(body).toContain('fleet_round_seconds_bucket{le="0.5",service="coordinator",run="r1"} 1');
    expect(body).toContain('fleet_round_seconds_count{service="coordinator",run="r1"} 1');
    expect(body).toContain('# TYPE fleet_round_seconds histogram');
    // Default process metrics are there, labelled like the rest.
    expect(body.some((l) => l.startsWith('process_cpu_user_seconds_total{service="coordinator",run="r1"} '))).toBe(true);
  });

  it('answers /healthz with ok, 404 elsewhere, and 500 with the message when a collect fails', async () => {
    const registry = new Registry();
    const server = await serve(registry);
    const base = `http://127.0.0.1:${server.port}`;

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);

    new Gauge({
      name: 'broken',
      help: 'throws on collect',
      registers: [registry],
      collect() {
        throw new Error('disk gone');
      },
    });
    const failed = await fetch(server.url);
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe('disk gone');
  });

  it('close() resolves promptly with keep-alive and half-sent requests open, and twice', async () => {
    const server = await startMetricsServer(new Registry(), { host: '127.0.0.1', port: 0 });
    const agent = new Agent({ keepAlive: true });
    const slow = connect(server.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => {
        get(server.url, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject);
      });
      // The socket is now idle in the agent's pool, held open by keep-alive.
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);
      // A request whose headers never finish is not idle: close() alone would
      // wait for headersTimeout (60 s) on it.
      slow.on('error', () => {});
      await new Promise<void>((resolve) => {
        slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n', () => {
          resolve();
        });
      });
      // The server accepts connections in order: once it has answered one
      // opened after the slow one's bytes were sent, it holds the slow one too.
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
      const started = performance.now();
      await server.close();
      expect(performance.now() - started).toBeLessThan(1000);
      await server.close();
    } finally {
      agent.destroy();
      slow.destroy();
    }
  });

  it('rejects when the port is taken', async () => {
    const first = await serve(new Registry());
    await expect(startMetricsServer(new Registry(), { host: '127.0.0.1', port: first.port })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('service registries', () => {
  it('are independent: two coordinators in one process neither clash nor share values', async () => {
    const a = coordinatorMetrics({ run: 'r1' });
    const b = coordinatorMetrics({ run: 'r2' });
    a.rounds.inc(3);
    b.rounds.inc();
    const [textA, textB] = await Promise.all([
      fetch((await serve(a.registry)).url).then((r) => r.text()),
      fetch((await serve(b.registry)).url).then((r) => r.text()),
    ]);
    expect(lines(textA)).toContain('fleet_rounds_total{service="coordinator",run="r1"} 3');
    expect(lines(textB)).toContain('fleet_rounds_total{service="coordinator",run="r2"} 1');
    expect(textA).not.toContain('run="r2"');
  });

  it('label workers and evaluators with their service, run and worker', async () => {
    const w = workerMetrics({ run: 'r1', worker: 'w3' });
    w.exchangeSeconds.observe({ direction: 'upload' }, 0.02);
    w.loss.set(1.25);
    const e = evaluatorMetrics({ run: 'r1' });
    e.testAccuracy.set(0.91);
    e.versionsSkipped.inc(2);

    const worker = await w.registry.metrics();
    expect(lines(worker)).toContain('fleet_worker_loss{service="worker",run="r1",worker="w3"} 1.25');
    const own = { service: 'worker', run: 'r1', worker: 'w3' };
    expect(sample(worker, 'fleet_worker_exchange_seconds_count', { ...own, direction: 'upload' })).toBe(1);
    expect(sample(worker, 'fleet_worker_exchange_seconds_bucket', { ...own, direction: 'upload', le: '0.025' })).toBe(1);
    expect(sample(worker, 'fleet_worker_exchange_seconds_bucket', { ...own, direction: 'upload', le: '0.01' })).toBe(0);
    // Both directions are zeroed up front, so rate() works from the first scrape.
    expect(sample(worker, 'fleet_worker_exchange_seconds_count', { ...own, direction: 'download' })).toBe(0);
    const evaluator = lines(await e.registry.metrics());
    expect(evaluator).toContain('fleet_test_accuracy{service="evaluator",run="r1"} 0.91');
    expect(evaluator).toContain('fleet_versions_skipped_total{service="evaluator",run="r1"} 2');
  });
});
