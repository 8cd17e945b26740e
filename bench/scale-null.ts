/**
 * The cost of scale, measured (docs/scaling.md): round time of a real
 * `fleet coordinator` process with 1 to 32 null workers (bench/null-workers.ts:
 * fleet's worker protocol and gRPC client, tensors of the run's model size,
 * no compute), at the sizes of the cnn (3.25 M floats, 13 MB) and resnet18
 * (11.2 M floats, 44.7 MB).
 *
 * Two places:
 * - loopback: every process on this machine's loopback; what the
 *   coordinator, gRPC and this machine's 2 cores manage without a network.
 * - hosts: the multi-host test bed (test/helpers/net-hosts.ts), the
 *   coordinator alone on host `coord` whose cable is held to each of
 *   FLEET_BENCH_RATES by tbf (both directions), the worker processes each on
 *   a host of its own (g0, g1, ...) with unlimited cables. Beside the
 *   measured round: the star model (2 x workers x bytes at the link rate,
 *   what the coordinator's link must carry) and a ring all-reduce's
 *   (2 x (W-1)/W x bytes per worker link) from bench/scale-models.ts, and the
 *   bytes that crossed the coordinator's eth0, per round. Skipped, with the
 *   reason, where namespaces cannot be made (not root, no ip/tc, a
 *   container's EPERM).
 *
 * A run: `fleet coordinator --workers W --epochs 1 --batch-size 1` over
 * W x (warm-up + rounds + 1) generated images, so the run ends after
 * exactly those rounds; --external-evaluator so no test set is scored.
 * Round time: from one 'round closed' log line of the coordinator to the
 * next (so it includes the coordinator's SGD step and the next round's
 * start), the warm-up rounds and the last one (the run's end follows it: a
 * checkpoint) left out. CPU time per round, of the coordinator (from /proc)
 * and of all null-worker processes together, over the same rounds. Null workers are spread over at most
 * FLEET_BENCH_PROCESSES processes, each with its own gRPC channel (see
 * null-workers.ts for what sharing a process means). Every process gets the
 * node flags fleet's launcher gives a cluster of that size.
 *
 * Knobs, defaults sized for `npm run bench` (a few minutes; the full table
 * of docs/scaling.md: FLEET_BENCH_MODELS=cnn,resnet18
 * FLEET_BENCH_WORKERS=1,2,4,8,16,32 FLEET_BENCH_PLACES=loopback,hosts
 * FLEET_BENCH_RATES=1gbit,10gbit): FLEET_BENCH_MODELS (cnn; any model fleet
 * builds: resnet18, tiny, resnet, ...), FLEET_BENCH_WORKERS (16,32),
 * FLEET_BENCH_ROUNDS (3), FLEET_BENCH_WARMUP (1), FLEET_BENCH_PROCESSES (8),
 * FLEET_BENCH_PLACES (hosts where the test bed can be made, else loopback),
 * FLEET_BENCH_RATES (1gbit), FLEET_BENCH_TCP_MB (the raw TCP probe at each
 * rate: two seconds' worth, at least 250; 0: none).
 * Recorded (figures.ts): each row's round time against the star and the
 * ring model at its link's rate, with the link's bytes and the
 * coordinator's CPU as what limits it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCifar10Files } from '../test/fixtures/cifar10-files.js';
import { startLineProcess, type LineProcess } from '../test/helpers/line-process.js';
import { hostsSupport, makeHosts, parseRate, type Host, type HostNet } from '../test/helpers/net-hosts.js';
import { gcNodeFlags } from '../services/launcher/gc-threads.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { ringRoundSeconds, starRoundBytes, starRoundSeconds } from './scale-models.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';
import { rawTcpThroughCable } from './tcp-probe.js';

const FLEET = fileURLToPath(new URL('../../cli/fleet.js', import.meta.url));
const NULL_WORKERS = fileURLToPath(new URL('./null-workers.js', import.meta.url));

export interface ScaleKnobs {
  models: string[];
  workers: number[];
  rounds: number;
  warmup: number;
  processes: number;
  places: ('loopback' | 'hosts')[];
  /** tbf rates of the coordinator's cable in the test bed, bits per second. */
  rates: number[];
  /** Bytes of the raw TCP probe through the coordinator's cable; null: two seconds' worth at the rate, at least 250 MB; 0: none. */
  tcpBytes: number | null;
}

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function intAtLeast(name: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${value}: an integer >= ${min}`);
  return n;
}

/** The knobs from FLEET_BENCH_*, each checked with its variable's name in the error. */
export function scaleKnobs(): ScaleKnobs {
  const places = list('FLEET_BENCH_PLACES', hostsSupport.ok ? 'hosts' : 'loopback');
  for (const p of places) if (p !== 'loopback' && p !== 'hosts') throw new Error(`FLEET_BENCH_PLACES: ${p} (loopback or hosts)`);
  return {
    models: list('FLEET_BENCH_MODELS', 'cnn'),
    workers: list('FLEET_BENCH_WORKERS', '16,32').map((w) => intAtLeast('FLEET_BENCH_WORKERS', w)),
    rounds: intAtLeast('FLEET_BENCH_ROUNDS', process.env.FLEET_BENCH_ROUNDS ?? '3'),
    warmup: intAtLeast('FLEET_BENCH_WARMUP', process.env.FLEET_BENCH_WARMUP ?? '1'),
    processes: intAtLeast('FLEET_BENCH_PROCESSES', process.env.FLEET_BENCH_PROCESSES ?? '8'),
    places: places as ScaleKnobs['places'],
    rates: list('FLEET_BENCH_RATES', '1gbit').map((r) => parseRate(r)),
    tcpBytes:
      process.env.FLEET_BENCH_TCP_MB === undefined ? null : intAtLeast('FLEET_BENCH_TCP_MB', process.env.FLEET_BENCH_TCP_MB, 0) * 1e6,
  };
}

/** Where a row runs: processes started on loopback, or in the test bed's hosts. */
interface Place {
  name: 'loopback' | 'hosts';
  /** The coordinator's cable rate (bit/s); null: none (loopback). */
  rate: number | null;
  /** The address the coordinator listens on and workers dial. */
  address: string;
  coordinator(args: string[]): LineProcess;
  workers(index: number, args: string[]): LineProcess;
  /** Bytes the coordinator's host sent plus received on its cable so far; null on loopback. */
  linkBytes(): Promise<number | null>;
}

function loopback(): Place {
  return {
    name: 'loopback',
    rate: null,
    address: '127.0.0.1',
    coordinator: (args) => startLineProcess(process.execPath, args),
    workers: (_i, args) => startLineProcess(process.execPath, args),
    linkBytes: async () => null,
  };
}

function hostsPlace(coord: Host, workerHosts: Host[], rate: number): Place {
  return {
    name: 'hosts',
    rate,
    address: coord.address,
    coordinator: (args) => coord.spawn(process.execPath, args),
    workers: (i, args) => workerHosts[i]!.spawn(process.execPath, args),
    linkBytes: async () => {
      const c = await coord.counters();
      return c.txBytes + c.rxBytes;
    },
  };
}

export interface ScaleRow {
  place: 'loopback' | 'hosts';
  /** The coordinator's cable (bit/s); null on loopback. */
  rate: number | null;
  model: string;
  /** Bytes of the tensor set (float32). */
  parameterBytes: number;
  workers: number;
  processes: number;
  /** Close-to-close times of the measured rounds. */
  roundMs: number[];
  /** Per worker and measured round, mean. */
  downloadMs: number;
  uploadMs: number;
  /** What crossed the coordinator's cable per round (all rounds, warm-up included); null on loopback. */
  linkBytesPerRound: number | null;
  /** The coordinator process's CPU time (user + system) per measured round. */
  coordinatorCpuMs: number;
  /** The null-worker processes' CPU time per measured round, all of them together. */
  workersCpuMs: number;
}

/** Clock ticks a second of /proc/PID/stat's times. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU time (user + system, ms) a process has used so far, from /proc/PID/stat. */
async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), in parentheses: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

interface Closed {
  time: number;
  round: number;
  contributed: number;
}

function jsonLines<T>(lines: readonly string[], test: (l: string) => boolean): T[] {
  return lines.filter(test).map((l) => JSON.parse(l) as T);
}

/** Null workers per process: W spread over min(W, processes) processes, the first ones taking one more. */
export function workersPerProcess(workers: number, processes: number): number[] {
  const p = Math.min(workers, processes);
  return Array.from({ length: p }, (_, i) => Math.floor(workers / p) + (i < workers % p ? 1 : 0));
}

async function runRow(place: Place, model: string, workers: number, knobs: ScaleKnobs, dataDir: string, root: string): Promise<ScaleRow> {
  const groups = workersPerProcess(workers, knobs.processes);
  const flags = gcNodeFlags('auto', groups.length + 1);
  // One more round after the measured ones, not timed: the run's end (a checkpoint) follows it.
  const total = knobs.warmup + knobs.rounds + 1;
  const lastMeasured = knobs.warmup + knobs.rounds - 1;
  const out = await mkdtemp(join(root, `${place.name}-${model}-${workers}-`));
  const started: LineProcess[] = [];
  try {
    const coordinator = place.coordinator([
      ...flags,
      FLEET,
      'coordinator',
      ...['--host', place.address, '--port', '0', '--run-id', `scale-null-${model}-${workers}`, '--out', out],
      ...['--workers', String(workers), '--model', model, '--epochs', '1', '--batch-size', '1'],
      ...['--data-dir', dataDir, '--allow-partial', '--limit-train', String(workers * total), '--limit-test', '10'],
      ...['--backend', 'wasm', '--augment', 'none', '--warmup-epochs', '0', '--lr', '0.01'],
      ...['--external-evaluator', '--evaluator-wait', '0', '--checkpoint-every', '0', '--linger', '1m'],
      ...['--round-timeout', '1h', '--heartbeat-timeout', '1h'],
    ]);
    started.push(coordinator);
    const listening = JSON.parse(await coordinator.waitFor(/"msg":"listening"/, 120_000)) as { port: number };
    const linkBefore = await place.linkBytes();
    // The coordinator's CPU time as the round before the measured ones closes, and as the last measured one does.
    // `ip netns exec` execs the command: the child's pid is the coordinator's in either place.
    const cpuAtClose = (round: number) =>
      coordinator
        .waitFor(new RegExp(`"round":${round},"epoch".*"msg":"round closed"`), 3_600_000)
        .then(() => processCpuMs(coordinator.child.pid!));
    const coordinatorCpu = Promise.all([cpuAtClose(knobs.warmup - 1), cpuAtClose(lastMeasured)]);
    coordinatorCpu.catch(() => {}); // awaited below; a coordinator that exits early is reported by its exit code
    const address = `${place.address}:${listening.port}`;
    const procs = groups.map((count, i) => place.workers(i, [...flags, NULL_WORKERS, address, String(count), `null${i}`]));
    started.push(...procs);
    // Generous: the whole run's bytes at 20 MB/s, plus start-up.
    const parameterGuess = 50e6;
    const timeoutMs = 180_000 + (total * 2 * workers * parameterGuess) / 20e3;
    const describe = () => [coordinator, ...procs].map((p) => p.lines.slice(-5).join('\n')).join('\n---\n');
    const workerExits = await withTimeout(Promise.all(procs.map((p) => p.exited)), timeoutMs, describe);
    const [cpuBefore, cpuAfter] = await coordinatorCpu;
    // Every worker has heard the run is over: a stop signal ends the coordinator's --linger (exit 0).
    coordinator.child.kill('SIGTERM');
    const exits = [await withTimeout(coordinator.exited, 60_000, describe), ...workerExits];
    const failed = exits.findIndex((e) => e.code !== 0);
    if (failed >= 0)
      throw new Error(`scale-null: process ${failed} exited ${exits[failed]!.code}:\n${started[failed]!.lines.slice(-10).join('\n')}`);
    const linkAfter = await place.linkBytes();

    const closed = jsonLines<Closed>(coordinator.lines, (l) => l.includes('"msg":"round closed"'));
    if (closed.length !== total || closed.some((c) => c.contributed !== workers)) {
      throw new Error(
        `scale-null: expected ${total} rounds with ${workers} contributions each, got ${closed.map((c) => c.contributed).join(',')}`,
      );
    }
    const roundMs = closed.slice(knobs.warmup, lastMeasured + 1).map((c, i) => c.time - closed[knobs.warmup - 1 + i]!.time);
    type NullRound = { round: number; downloadMs: number; uploadMs: number; bytes: number; cpuMs: number };
    const perProcess = procs.map((p) =>
      p.lines.filter((l) => l.startsWith('null-round ')).map((l) => JSON.parse(l.slice('null-round '.length)) as NullRound),
    );
    const perWorker = perProcess.flat();
    const measured = perWorker.filter((r) => r.round >= knobs.warmup && r.round <= lastMeasured);
    // Each process's CPU time from its last contribution to the round before the measured ones to its last to the last measured one.
    const cpuAt = (lines: NullRound[], round: number) => Math.max(...lines.filter((r) => r.round === round).map((r) => r.cpuMs));
    const workersCpu = perProcess.map((lines) => cpuAt(lines, lastMeasured) - cpuAt(lines, knobs.warmup - 1));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    return {
      place: place.name,
      rate: place.rate,
      model,
      parameterBytes: perWorker[0]?.bytes ?? 0,
      workers,
      processes: groups.length,
      roundMs,
      downloadMs: mean(measured.map((r) => r.downloadMs)),
      uploadMs: mean(measured.map((r) => r.uploadMs)),
      linkBytesPerRound: linkBefore !== null && linkAfter !== null ? (linkAfter - linkBefore) / total : null,
      coordinatorCpuMs: (cpuAfter - cpuBefore) / knobs.rounds,
      workersCpuMs: workersCpu.reduce((a, b) => a + b, 0) / knobs.rounds,
    };
  } finally {
    for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(started.map((p) => p.exited));
    await rm(out, { recursive: true, force: true });
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scale-null: no end in ${Math.round(ms / 1000)} s:\n${describe()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The columns of the printed table (tab-separated); the test reads them by these names. */
export const SCALE_COLUMNS = [
  'place',
  'link',
  'model',
  'MB',
  'workers',
  'processes',
  'round ms (mean +- std)',
  'star model ms',
  'measured / star',
  'ring model ms',
  'coordinator GB/s',
  'download ms',
  'upload ms',
  'link MB / round',
  'coordinator CPU ms / round',
  'workers CPU ms / round',
] as const;

function rateName(bits: number | null): string {
  if (bits === null) return '-';
  return bits >= 1e9 ? `${bits / 1e9} Gbit` : `${bits / 1e6} Mbit`;
}

/** A row's round time against the star and the ring model (at a link's rate), for docs/benchmarks.json. */
function recordRow(r: ScaleRow): void {
  const bench = 'scale-null';
  const command = benchCommand(bench);
  const { mean } = meanStd(r.roundMs);
  const where = r.rate === null ? 'loopback' : `the coordinator's link at ${rateName(r.rate)}`;
  const name = `${r.model} (${(r.parameterBytes / 1e6).toFixed(1)} MB), ${r.workers} null workers, ${where}: round time (n = rounds)`;
  const cpu = `the coordinator's CPU ${r.coordinatorCpuMs.toFixed(0)} ms a round (${((100 * r.coordinatorCpuMs) / mean).toFixed(0)}% of it)`;
  const limits =
    r.linkBytesPerRound === null
      ? `${cpu}; the null workers' ${r.workersCpuMs.toFixed(0)} ms together, on the same 2 cores`
      : `the link carried ${(r.linkBytesPerRound / 1e6).toFixed(1)} MB a round, ${(r.linkBytesPerRound / starRoundBytes(r.workers, r.parameterBytes)).toFixed(3)}x the star model's bytes; ${cpu}`;
  if (r.rate === null) {
    recordFigure(figureOf({ bench, name, unit: 'ms', limits, command }, r.roundMs));
    return;
  }
  const star = starRoundSeconds(r.workers, r.parameterBytes, r.rate) * 1000;
  const ring = ringRoundSeconds(r.workers, r.parameterBytes, r.rate) * 1000;
  recordFigure(
    figureOf(
      {
        bench,
        name,
        unit: 'ms',
        reference: { name: `the star model (2 x ${r.workers} x the bytes at ${rateName(r.rate)})`, mean: star },
        limits,
        command,
      },
      r.roundMs,
    ),
  );
  recordFigure(
    figureOf(
      {
        bench,
        name: name.replace('round time', 'the same rounds against a ring'),
        unit: 'ms',
        reference: { name: `a ring all-reduce's model (2 x (W-1)/W x the bytes a worker link, at ${rateName(r.rate)})`, mean: ring },
        command,
      },
      r.roundMs,
    ),
  );
}

/** One table line: the measured round beside the star and ring models at the row's link rate. */
export function formatRow(r: ScaleRow): string {
  const { mean, std } = meanStd(r.roundMs);
  const star = r.rate === null ? null : starRoundSeconds(r.workers, r.parameterBytes, r.rate) * 1000;
  const ring = r.rate === null ? null : ringRoundSeconds(r.workers, r.parameterBytes, r.rate) * 1000;
  const coordinatorGbps = (2 * r.workers * r.parameterBytes) / 1e9 / (mean / 1000);
  return [
    r.place,
    rateName(r.rate),
    r.model,
    (r.parameterBytes / 1e6).toFixed(1),
    r.workers,
    r.processes,
    `${mean.toFixed(0)} +- ${std.toFixed(0)}`,
    star === null ? '-' : star.toFixed(0),
    star === null ? '-' : (mean / star).toFixed(2),
    ring === null ? '-' : ring.toFixed(0),
    coordinatorGbps.toFixed(3),
    r.downloadMs.toFixed(0),
    r.uploadMs.toFixed(0),
    r.linkBytesPerRound === null ? '-' : (r.linkBytesPerRound / 1e6).toFixed(1),
    r.coordinatorCpuMs.toFixed(0),
    r.workersCpuMs.toFixed(0),
  ].join('\t');
}

export async function run(): Promise<void> {
  const knobs = scaleKnobs();
  console.log(
    `scale-null: a real fleet coordinator and 1-32 null workers (fleet's gRPC client, the model's tensor set, no compute); ${knobs.rounds} rounds after ${knobs.warmup} warm-up, round time from one 'round closed' line to the next`,
  );
  console.log(
    `null workers in at most ${knobs.processes} processes, each with its own gRPC channel; star model: 2 x workers x bytes at the coordinator's link rate; ring: 2 x (W-1)/W x bytes at a worker's link rate; coordinator GB/s: 2 x workers x bytes / measured round; CPU ms / round: user + system over the measured rounds; link MB / round: the coordinator's eth0, all rounds`,
  );
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const root = await mkdtemp(join(tmpdir(), 'fleet-scale-null-'));
  let net: HostNet | null = null;
  try {
    const total = knobs.warmup + knobs.rounds + 1;
    const dataDir = join(root, 'data');
    await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: Math.max(...knobs.workers) * total, testCount: 10, seed: 18 });
    const places: Place[] = [];
    if (knobs.places.includes('loopback')) places.push(loopback());
    if (knobs.places.includes('hosts')) {
      if (!hostsSupport.ok) console.log(`hosts: skipped: ${hostsSupport.reason}`);
      else {
        const groups = Math.min(Math.max(...knobs.workers), knobs.processes);
        net = await makeHosts({ names: ['coord', ...Array.from({ length: groups }, (_, i) => `g${i}`)] });
        const [coord, ...workerHosts] = net.hosts;
        for (const rate of knobs.rates) places.push(hostsPlace(coord!, workerHosts, rate));
        console.log(`hosts: coordinator on ${coord!.address} (${net.subnet}), worker processes on ${groups} hosts with unlimited cables`);
      }
    }
    console.log(SCALE_COLUMNS.join('\t'));
    for (const place of places) {
      if (place.name === 'hosts') {
        const [coord, g0] = net!.hosts;
        await coord!.setRate(place.rate);
        const bytes = knobs.tcpBytes ?? Math.max(250e6, Math.round(place.rate! / 4));
        if (bytes > 0) {
          const tcp = await rawTcpThroughCable(coord!, g0!, bytes);
          console.log(
            `hosts at ${rateName(place.rate)}: one raw TCP stream g0 -> coord moved ${(tcp / 1e9).toFixed(2)} Gbit/s (${(bytes / 1e6).toFixed(0)} MB)`,
          );
        }
      }
      for (const model of knobs.models) {
        for (const workers of knobs.workers) {
          const row = await runRow(place, model, workers, knobs, dataDir, root);
          console.log(formatRow(row));
          recordRow(row);
        }
      }
    }
    console.log(
      `load average at end: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await net?.teardown();
    await rm(root, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await run();
