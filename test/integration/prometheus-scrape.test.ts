import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLocalPort } from '../../services/launcher/nats-server-process.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { dashboardQueries, findBinary, fleetNamesIn, MONITORING_DIR, readRules } from '../helpers/monitoring.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { until } from '../helpers/wait.js';

/**
 * deploy/monitoring against a live run: a real Prometheus (Debian's package)
 * with deploy/monitoring's local configuration and rules.yml, scraping a
 * coordinator, two workers and the evaluator (real processes, events on a
 * nats-server started here). Every metric and recording rule the Grafana
 * dashboard reads, and every panel's query, must return data for the run.
 */

const prometheusBinary = findBinary('prometheus');
const RUN = 'promscrape';
let root: string;
const started: FleetProcess[] = [];
let nats: NatsServerHandle | null = null;
let prometheus: ChildProcess | null = null;
const prometheusLog: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-prometheus-'));
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  if (prometheus && prometheus.exitCode === null) {
    const gone = new Promise((resolve) => prometheus!.once('close', resolve));
    prometheus.kill('SIGKILL');
    await gone;
  }
  await nats?.dispose();
  await rm(root, { recursive: true, force: true });
});

function track<T extends FleetProcess>(p: T): T {
  started.push(p);
  return p;
}

const metricsFlags = ['--metrics-port', '0', '--metrics-host', '127.0.0.1'];
/** host:port of a service's endpoint, from its `metrics` line. */
const targetOf = async (p: FleetProcess) => new URL(JSON.parse(await p.waitFor(/"msg":"metrics"/, 90_000)).url as string).host;

/** deploy/monitoring/prometheus.local.yml with the test's intervals (1 s), beside a copy of rules.yml and the targets. */
async function writePrometheusConfig(dir: string, targets: string[]): Promise<string> {
  const config = parse(await readFile(join(MONITORING_DIR, 'prometheus.local.yml'), 'utf8')) as { global: Record<string, string> };
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  const file = join(dir, 'prometheus.yml');
  await writeFile(file, stringify(config));
  await copyFile(join(MONITORING_DIR, 'rules.yml'), join(dir, 'rules.yml'));
  await writeFile(join(dir, 'targets.json'), JSON.stringify([{ targets, labels: {} }]));
  return file;
}

interface QueryResult {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(base: string, promql: string): Promise<QueryResult[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: QueryResult[] } };
  if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
  return body.data!.result;
}

describe.skipIf(!prometheusBinary || !natsServerAvailable())(
  'Prometheus scraping a live run with deploy/monitoring (real prometheus)',
  () => {
    it('every metric and recording rule the dashboard uses, and every panel query, returns data for the run', async () => {
      const dataDir = join(root, 'data');
      await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 64, pattern: 'learnable', seed: 3 });
      nats = await startNatsServer();
      // Many epochs: the run goes on while Prometheus scrapes it (a finished run's targets vanish); killed at the end.
      const coordinator = track(
        await startCoordinator([
          ...['--run-id', RUN, '--out', join(root, RUN), '--nats', nats.url, '--external-evaluator'],
          ...['--model', 'tiny', '--lr', '0.02', '--warmup-epochs', '0', '--data-dir', dataDir, '--allow-partial'],
          ...['--backend', 'wasm', '--epochs', '200', '--workers', '2', '--batch-size', '16'],
          ...metricsFlags,
        ]),
      );
      const workers = [0, 1].map((i) =>
        track(startFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--name', `${RUN}-w${i}`, ...metricsFlags])),
      );
      const evaluator = track(
        startFleet(['evaluator', '--coordinator', `127.0.0.1:${coordinator.port}`, '--run', RUN, '--nats', nats.url, ...metricsFlags]),
      );
      const targets = await Promise.all([coordinator, ...workers, evaluator].map(targetOf));

      const dir = await mkdtemp(join(root, 'prometheus-'));
      const config = await writePrometheusConfig(dir, targets);
      const port = await freeLocalPort([4222]);
      const base = `http://127.0.0.1:${port}`;
      prometheus = spawn(
        prometheusBinary!,
        [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      for (const stream of [prometheus.stdout!, prometheus.stderr!]) stream.on('data', (d: Buffer) => prometheusLog.push(d.toString()));
      const lastLog = () => prometheusLog.join('').split('\n').slice(-15).join('\n');
      await until(
        'prometheus ready',
        async () => {
          if (prometheus!.exitCode !== null) throw new Error(`prometheus exited:\n${lastLog()}`);
          return fetch(`${base}/-/ready`).then(
            (r) => r.ok,
            () => false,
          );
        },
        30_000,
        200,
      );

      // What the dashboard reads: its metrics and recording rules by name, and its panels' queries with $run set.
      const queries = dashboardQueries().map((q) => ({ what: `${q.panel}: ${q.expr}`, expr: q.expr.replaceAll('$run', RUN) }));
      const names = [...new Set(dashboardQueries().flatMap((q) => fleetNamesIn(q.expr)))];
      expect(names.filter((n) => n.includes(':')).length).toBeGreaterThan(5);
      const checks = [...names.map((n) => ({ what: n, expr: `${n}{run="${RUN}"}` })), ...queries];
      let empty: string[] = checks.map((c) => c.what);
      // Rates need two scrapes, the evaluation lag an epoch end scored: poll until all answer.
      await until(
        'every dashboard series has data',
        async () => {
          const answers = await Promise.all(checks.map(async (c) => ({ c, n: (await query(base, c.expr)).length })));
          empty = answers.filter((a) => a.n === 0).map((a) => a.c.what);
          if (coordinator.child.exitCode !== null) throw new Error(`the coordinator exited:\n${coordinator.lines.slice(-10).join('\n')}`);
          return empty.length === 0;
        },
        60_000,
        1000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; still empty:\n${empty.join('\n')}\nprometheus:\n${lastLog()}`);
      });

      // All four targets up, and the figures are the run's, not placeholders.
      const up = await query(base, 'up{job="fleet"}');
      expect(up.map((r) => r.value[1]).sort()).toEqual(['1', '1', '1', '1']);
      const value = async (promql: string) => (await query(base, promql)).map((r) => Number(r.value[1]));
      expect((await value(`fleet:images_per_second:rate1m{run="${RUN}"}`))[0]).toBeGreaterThan(0);
      // The round time breakdown: all four phases, training and waiting (the nextRound call, the others) both under way.
      const phases = await query(base, `fleet:worker_phase_seconds:avg_rate1m{run="${RUN}"}`);
      expect(phases.map((r) => r.metric.phase).sort()).toEqual(['download', 'train', 'upload', 'wait']);
      for (const phase of ['train', 'wait'])
        expect(Number(phases.find((r) => r.metric.phase === phase)!.value[1]), phase).toBeGreaterThan(0);
      const sinceLastRound = await value(`fleet:worker_seconds_since_last_round{run="${RUN}"}`);
      expect(sinceLastRound).toHaveLength(2);
      for (const s of sinceLastRound) expect(s).toBeLessThan(60);
      expect((await value(`fleet_checkpoint_version{run="${RUN}",kind="epoch_end"}`))[0]).toBeGreaterThan(0);
      expect((await value(`fleet_members{run="${RUN}",service="coordinator"}`))[0]).toBe(2);
      // The evaluator has scored a version: the accuracy panel shows a score, not an unset gauge's 0.
      await until(
        'an evaluation scraped',
        async () => ((await value(`fleet_last_evaluation_timestamp_seconds{run="${RUN}"}`))[0] ?? 0) > 0,
        30_000,
        500,
      );
      // Every rule of rules.yml loaded and evaluated without error on the live series (a many-to-many match would show here).
      const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const loaded = rules.data.groups.flatMap((g) => g.rules);
      expect(loaded.length).toBe(readRules().flatMap((g) => g.rules).length);
      expect(loaded.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
      // The dashboard's run variable (label_values(fleet_members, run)) lists the run.
      const labels = (await (await fetch(`${base}/api/v1/label/run/values?match[]=fleet_members`)).json()) as { data: string[] };
      expect(labels.data).toContain(RUN);
    }, 150_000);
  },
);
