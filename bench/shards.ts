/**
 * --shards K through a limited link (docs/scaling.md "Sharded aggregation"):
 * round time of a real `fleet coordinator --shards K` with K-1 `fleet
 * aggregator` processes and 8 null workers (bench/null-workers.ts: fleet's
 * worker client, the model's tensor set, no compute), in the multi-host
 * test bed (test/helpers/net-hosts.ts): the coordinator on host `coord`,
 * aggregator k on host `aK`, each of their cables held to the rate by tbf
 * (both directions); the null-worker processes each on a host of their own
 * with unlimited cables.
 *
 * The model: each aggregator's link carries 2 x workers x its shard's bytes
 * a round (every worker downloads and uploads its slice), so the busiest
 * link's bytes at the link rate is the round's floor: 2 x W x P / K
 * (fleet's cut, src/exchange/shard-assignment.ts, is even to a float). Beside it: the bytes that crossed
 * the busiest aggregator's eth0 a round, and the CPU time a round of the
 * coordinator and of the busiest aggregator (the machine's 2 cores are
 * shared by every process of the bed).
 *
 * A run: `--workers W --epochs 1 --batch-size 1` over W x (warm-up + rounds
 * + 1) generated images; round time from one 'round closed' line to the
 * next, the warm-up rounds and the last one (a checkpoint follows it) left out.
 *
 * Knobs (defaults keep `npm run bench` near 2-3 minutes here):
 * FLEET_BENCH_SHARDS (1,2,4), FLEET_BENCH_SHARD_MODEL (resnet: 1.1 MB; at
 * 1 Gbit resnet18's rounds here are bound by the 2 cores every process of
 * the bed shares, not by the link),
 * FLEET_BENCH_SHARD_WORKERS (8), FLEET_BENCH_SHARD_RATE (25mbit: the link,
 * not this machine's CPU, sets the round),
 * FLEET_BENCH_SHARD_ROUNDS (3), FLEET_BENCH_SHARD_WARMUP (1),
 * FLEET_BENCH_SHARD_PROCESSES (8: null-worker processes, each on its host).
 * Skipped, with the reason, where network namespaces cannot be made.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCifar10Files } from '../test/fixtures/cifar10-files.js';
import type { LineProcess } from '../test/helpers/line-process.js';
import { hostsSupport, makeHosts, parseRate, type Host } from '../test/helpers/net-hosts.js';
import { gcNodeFlags } from '../services/launcher/gc-threads.js';
import { buildModel } from '../src/model/index.js';
import type { AnyModelName } from '../src/model/build-model.js';
import { layoutLength, weightLayout } from '../src/training/flat-weights.js';
import { assignShards } from '../src/exchange/shard-assignment.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { workersPerProcess } from './scale-null.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';

const FLEET = fileURLToPath(new URL('../../cli/fleet.js', import.meta.url));
const NULL_WORKERS = fileURLToPath(new URL('./null-workers.js', import.meta.url));
const BENCH = 'shards';
const AGGREGATOR_PORT = 7071;

interface Knobs {
  shards: number[];
  model: string;
  workers: number;
  rate: number;
  rounds: number;
  warmup: number;
  processes: number;
}

function intAtLeast(name: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${value}: an integer >= ${min}`);
  return n;
}

function knobs(): Knobs {
  const env = (name: string, fallback: string) => process.env[name] ?? fallback;
  return {
    shards: env('FLEET_BENCH_SHARDS', '1,2,4')
      .split(',')
      .map((k) => intAtLeast('FLEET_BENCH_SHARDS', k.trim())),
    model: env('FLEET_BENCH_SHARD_MODEL', 'resnet'),
    workers: intAtLeast('FLEET_BENCH_SHARD_WORKERS', env('FLEET_BENCH_SHARD_WORKERS', '8')),
    rate: parseRate(env('FLEET_BENCH_SHARD_RATE', '25mbit')),
    rounds: intAtLeast('FLEET_BENCH_SHARD_ROUNDS', env('FLEET_BENCH_SHARD_ROUNDS', '3')),
    warmup: intAtLeast('FLEET_BENCH_SHARD_WARMUP', env('FLEET_BENCH_SHARD_WARMUP', '1')),
    processes: intAtLeast('FLEET_BENCH_SHARD_PROCESSES', env('FLEET_BENCH_SHARD_PROCESSES', '8')),
  };
}

/** Bytes of the model's tensor set and of its largest shard at each K (float32). */
function modelShards(model: string, ks: number[]): { bytes: number; largest: Map<number, number> } {
  const m = buildModel({ name: model as AnyModelName, seed: 1 });
  const layout = weightLayout(m);
  m.dispose();
  const largest = new Map(ks.map((k) => [k, Math.max(...assignShards(layout, k).map((s) => s.floats)) * 4]));
  return { bytes: layoutLength(layout) * 4, largest };
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

export interface ShardRow {
  shards: number;
  roundMs: number[];
  /** The busiest of the coordinator's and the aggregators' links: bytes a round (all rounds), and whose. */
  busiestLinkBytes: number;
  busiestHost: string;
  coordinatorCpuMs: number;
  /** The aggregator process with the most CPU time a round (0 for K = 1). */
  aggregatorCpuMs: number;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`shards: no end in ${Math.round(ms / 1000)} s:\n${describe()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function runRow(
  k: number,
  o: Knobs,
  coord: Host,
  aggregatorHosts: Host[],
  workerHosts: Host[],
  dataDir: string,
  root: string,
): Promise<ShardRow> {
  const groups = workersPerProcess(o.workers, o.processes);
  const flags = gcNodeFlags('auto', groups.length + k);
  const total = o.warmup + o.rounds + 1;
  const lastMeasured = o.warmup + o.rounds - 1;
  const out = await mkdtemp(join(root, `k${k}-`));
  const started: LineProcess[] = [];
  const describe = () => started.map((p) => p.lines.slice(-5).join('\n')).join('\n---\n');
  try {
    const aggregators = aggregatorHosts
      .slice(0, k - 1)
      .map((h) => h.spawn(process.execPath, [...flags, FLEET, 'aggregator', '--host', h.address, '--port', String(AGGREGATOR_PORT)]));
    started.push(...aggregators);
    await Promise.all(aggregators.map((a) => a.waitFor(/"msg":"listening"/, 120_000)));
    const coordinator = coord.spawn(process.execPath, [
      ...flags,
      FLEET,
      'coordinator',
      ...['--host', coord.address, '--port', '0', '--run-id', `shards-${k}`, '--out', out],
      ...['--workers', String(o.workers), '--model', o.model, '--epochs', '1', '--batch-size', '1'],
      ...['--data-dir', dataDir, '--allow-partial', '--limit-train', String(o.workers * total), '--limit-test', '10'],
      ...['--backend', 'wasm', '--augment', 'none', '--warmup-epochs', '0', '--lr', '0.01'],
      ...['--external-evaluator', '--evaluator-wait', '0', '--checkpoint-every', '0', '--linger', '1m'],
      ...['--round-timeout', '1h', '--heartbeat-timeout', '1h'],
      ...(k > 1
        ? [
            '--shards',
            String(k),
            '--aggregators',
            aggregatorHosts
              .slice(0, k - 1)
              .map((h) => `${h.address}:${AGGREGATOR_PORT}`)
              .join(','),
          ]
        : []),
    ]);
    started.push(coordinator);
    const listening = JSON.parse(await coordinator.waitFor(/"msg":"listening"/, 180_000)) as { port: number };
    const links = [coord, ...aggregatorHosts.slice(0, k - 1)];
    const before = await Promise.all(links.map((h) => h.counters()));
    const pids = [coordinator, ...aggregators].map((p) => p.child.pid!);
    const cpuAt = (round: number) =>
      coordinator
        .waitFor(new RegExp(`"round":${round},"epoch".*"msg":"round closed"`), 3_600_000)
        .then(() => Promise.all(pids.map((pid) => cpuMs(pid))));
    const cpu = Promise.all([cpuAt(o.warmup - 1), cpuAt(lastMeasured)]);
    cpu.catch(() => {});
    const address = `${coord.address}:${listening.port}`;
    const procs = groups.map((count, i) =>
      workerHosts[i]!.spawn(process.execPath, [...flags, NULL_WORKERS, address, String(count), `null${i}`]),
    );
    started.push(...procs);
    const exits = await withTimeout(Promise.all(procs.map((p) => p.exited)), 600_000, describe);
    const [cpuBefore, cpuAfter] = await cpu;
    coordinator.child.kill('SIGTERM');
    exits.push(await withTimeout(coordinator.exited, 60_000, describe));
    // The coordinator tells its aggregators the run is over as it exits.
    exits.push(...(await withTimeout(Promise.all(aggregators.map((a) => a.exited)), 60_000, describe)));
    const failed = exits.findIndex((e) => e.code !== 0);
    if (failed >= 0) throw new Error(`shards: a process exited ${exits[failed]!.code}:\n${describe()}`);
    const after = await Promise.all(links.map((h) => h.counters()));
    const perLink = links.map((h, i) => ({
      host: h.name,
      bytes: (after[i]!.txBytes + after[i]!.rxBytes - before[i]!.txBytes - before[i]!.rxBytes) / total,
    }));
    const busiest = perLink.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const closed = coordinator.lines
      .filter((l) => l.includes('"msg":"round closed"'))
      .map((l) => JSON.parse(l) as { time: number; contributed: number });
    if (closed.length !== total || closed.some((c) => c.contributed !== o.workers))
      throw new Error(`shards: expected ${total} rounds of ${o.workers} contributions, got ${closed.map((c) => c.contributed).join(',')}`);
    const roundMs = closed.slice(o.warmup, lastMeasured + 1).map((c, i) => c.time - closed[o.warmup - 1 + i]!.time);
    const used = pids.map((_, i) => (cpuAfter[i]! - cpuBefore[i]!) / o.rounds);
    return {
      shards: k,
      roundMs,
      busiestLinkBytes: busiest.bytes,
      busiestHost: busiest.host,
      coordinatorCpuMs: used[0]!,
      aggregatorCpuMs: Math.max(0, ...used.slice(1)),
    };
  } finally {
    for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(started.map((p) => p.exited));
    await rm(out, { recursive: true, force: true });
  }
}

function rateName(bits: number): string {
  return bits >= 1e9 ? `${bits / 1e9} Gbit` : `${bits / 1e6} Mbit`;
}

export async function run(): Promise<void> {
  const o = knobs();
  if (!hostsSupport.ok) {
    console.log(`shards: skipped: the test bed needs network namespaces: ${hostsSupport.reason}`);
    return;
  }
  await tf.setBackend('cpu');
  const { bytes, largest } = modelShards(o.model, o.shards);
  console.log(
    `shards: fleet coordinator --shards K with K-1 fleet aggregators, each on its own host with its cable at ${rateName(o.rate)} (tbf, both ways); ${o.workers} null workers in ${Math.min(o.workers, o.processes)} processes on unlimited hosts; ${o.model}, ${(bytes / 1e6).toFixed(1)} MB; ${o.rounds} rounds after ${o.warmup} warm-up`,
  );
  console.log(
    'model: the busiest link carries 2 x workers x its shard a round (2 x W x P / K: the cut is even to a float); at the link rate that is the round floor',
  );
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const root = await mkdtemp(join(tmpdir(), 'fleet-shards-'));
  const kmax = Math.max(...o.shards);
  const groups = Math.min(o.workers, o.processes);
  const net = await makeHosts({
    names: ['coord', ...Array.from({ length: kmax - 1 }, (_, i) => `a${i + 1}`), ...Array.from({ length: groups }, (_, i) => `g${i}`)],
  });
  try {
    const [coord, ...rest] = net.hosts;
    const aggregatorHosts = rest.slice(0, kmax - 1);
    const workerHosts = rest.slice(kmax - 1);
    for (const h of [coord!, ...aggregatorHosts]) await h.setRate(o.rate);
    const total = o.warmup + o.rounds + 1;
    const dataDir = join(root, 'data');
    await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: o.workers * total, testCount: 10, seed: 19 });
    console.log(
      [
        'K',
        'round ms (mean +- std)',
        'model ms (fleet cut)',
        'measured / model',
        'model ms (even cut)',
        'busiest link MB / round',
        'model MB',
        'coordinator CPU ms / round',
        'busiest aggregator CPU ms / round',
      ].join('\t'),
    );
    let one: number | null = null;
    for (const k of o.shards) {
      const row = await runRow(k, o, coord!, aggregatorHosts, workerHosts, dataDir, root);
      const { mean, std } = meanStd(row.roundMs);
      const shardBytes = largest.get(k)!;
      const modelBytes = 2 * o.workers * shardBytes;
      const modelMs = ((modelBytes * 8) / o.rate) * 1000;
      const evenMs = ((2 * o.workers * bytes * 8) / k / o.rate) * 1000;
      if (k === 1) one = mean;
      console.log(
        [
          k,
          `${mean.toFixed(0)} +- ${std.toFixed(0)}`,
          modelMs.toFixed(0),
          (mean / modelMs).toFixed(2),
          evenMs.toFixed(0),
          `${(row.busiestLinkBytes / 1e6).toFixed(1)} (${row.busiestHost})`,
          (modelBytes / 1e6).toFixed(1),
          row.coordinatorCpuMs.toFixed(0),
          row.aggregatorCpuMs.toFixed(0),
        ].join('\t'),
      );
      const cpu = `the coordinator's CPU ${row.coordinatorCpuMs.toFixed(0)} ms a round, the busiest aggregator's ${row.aggregatorCpuMs.toFixed(0)} ms (all processes share 2 cores)`;
      recordFigure(
        figureOf(
          {
            bench: BENCH,
            name: `${o.model} (${(bytes / 1e6).toFixed(1)} MB), ${o.workers} null workers, --shards ${k}, each aggregator's link at ${rateName(o.rate)}: round time (n = rounds)`,
            unit: 'ms',
            reference: {
              name: `the model: 2 x ${o.workers} x the largest shard (${(shardBytes / 1e6).toFixed(1)} MB) at ${rateName(o.rate)}`,
              mean: modelMs,
            },
            limits: `the busiest link (${row.busiestHost}) carried ${(row.busiestLinkBytes / 1e6).toFixed(1)} MB a round, ${(row.busiestLinkBytes / modelBytes).toFixed(3)}x the model's bytes; ${cpu}`,
            command: benchCommand(BENCH),
          },
          row.roundMs,
        ),
      );
      if (k > 1 && one !== null) {
        recordFigure(
          figureOf(
            {
              bench: BENCH,
              name: `${o.model}, ${o.workers} null workers, --shards ${k} against --shards 1 at ${rateName(o.rate)}: round time (n = rounds)`,
              unit: 'ms',
              reference: { name: '--shards 1 in the same run', mean: one },
              goal: { of: 'ratio', op: '<=', value: 1 / k },
              command: benchCommand(BENCH),
            },
            row.roundMs,
          ),
        );
      }
    }
    console.log(
      `load average at end: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await net.teardown();
    await rm(root, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await run();
