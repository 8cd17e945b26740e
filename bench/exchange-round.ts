/**
 * One exchange round for a ResNet-18-sized model (11.2 M parameters, 44.7 MB)
 * with 1, 2, 4 and 8 workers on loopback, through the real coordinator server
 * and worker client: each worker downloads the parameters and uploads a
 * gradient set. Beside it, in the same run, raw TCP moving the same bytes
 * two ways: a round of the same shape (N processes, each receives the set and
 * sends one back, copied into a buffer kept across rounds, no checks) and
 * one stream carrying all the round's bytes one way. Also the coordinator's
 * resident memory above its baseline. The coordinator and the raw TCP
 * server run in child processes with the node flags fleet's launcher gives a
 * cluster of that size (launcher/gc-threads.ts); with FLEET_BENCH_TUNINGS=1 the largest round runs once
 * more with V8's default heap growth (runtime/heap-tuning.ts) and once with
 * V8's parallel GC, for each tuning's gain side by side.
 * FLEET_BENCH_WORKERS (2,8; the full table 1,2,4,8), FLEET_BENCH_ROUNDS (5), FLEET_BENCH_MODEL (resnet18),
 * FLEET_BENCH_TUNINGS (unset; 1: the largest round again with V8's default heap growth and with its parallel GC).
 * FLEET_BENCH_COMPRESS (unset): a comma list of --compress formats (none,fp16,bf16); each worker
 * count then runs once per format, and two columns are added: the format and the bytes a round
 * moved, as the coordinator's server counted them (its exchange counter, per fetch and contribution).
 * Recorded (figures.ts): each row's GB/s against the raw TCP round's (goal >= 0.5 with 2-8 workers),
 * the tunings' rows against the tuned row, the coordinator's memory (goal < 3x the parameter bytes).
 * compressedRounds() measures the bytes a round moves per format for compress-rounding.
 *
 * This file is both the bench and, by its first argument, the processes it
 * spawns: `round` (the coordinator), `worker`, `tcp-round`, `tcp-round-worker`, `tcp-send`.
 */
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseTrainConfig, planTraining } from '../src/runtime/config/train-config.js';
import { buildModel } from '../src/model/index.js';
import { RoundController } from '../services/coordinator/rounds/round-controller.js';
import { startCoordinatorServer } from '../services/coordinator/rpc/coordinator-server.js';
import { coordinatorVectorMemory } from '../services/coordinator/coordinator-run.js';
import { EpochSampler } from '../services/coordinator/sampler/index.js';
import { createCoordinatorClient } from '../services/worker/client/grpc-coordinator-client.js';
import { layoutLength, readWeights, weightLayout } from '../src/training/flat-weights.js';
import { HEAP_GROWING_PERCENT, setHeapGrowingPercent, tuneHeapForTransfers } from '../src/runtime/heap-tuning.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';
import { gcNodeFlags } from '../services/launcher/gc-threads.js';
import { ExchangeCounter } from '../services/coordinator/telemetry/run-reporter.js';
import { COMPRESS_CHOICES, type Compress } from '../src/runtime/config/run-config.js';

const SELF = fileURLToPath(import.meta.url);
const silent = pino({ level: 'silent' });

/** FLEET_BENCH_MODEL (resnet18): the model whose tensor set a round moves. */
const MODEL = (process.env.FLEET_BENCH_MODEL ?? 'resnet18') as 'resnet18' | 'cnn' | 'resnet';

/** FLEET_BENCH_COMPRESS: the --compress formats to compare, or null (unset: float32 only, the original table). */
function compressFormats(): Compress[] | null {
  const raw = process.env.FLEET_BENCH_COMPRESS;
  if (!raw) return null;
  const list = raw.split(',').map((s) => s.trim());
  const bad = list.find((c) => !(COMPRESS_CHOICES as readonly string[]).includes(c));
  if (bad !== undefined) throw new Error(`FLEET_BENCH_COMPRESS: ${bad} is not one of ${COMPRESS_CHOICES.join(', ')}`);
  return list as Compress[];
}

function modelLayout() {
  return weightLayout(buildModel({ name: MODEL, seed: 1 }));
}

/** V8's heap growth of fleet's processes (runtime/heap-tuning.ts), or V8's own dynamic factor. */
type HeapGrowth = 'tuned' | 'default';
function applyHeapGrowth(growth: HeapGrowth): void {
  setHeapGrowingPercent(growth === 'tuned' ? HEAP_GROWING_PERCENT : 0);
}

/** Worker side: `node exchange-round.js worker ADDRESS ROUNDS HEAP`. */
async function workerMain(address: string, rounds: number, growth: HeapGrowth): Promise<void> {
  applyHeapGrowth(growth);
  await tf.setBackend('cpu');
  const layout = modelLayout();
  const client = createCoordinatorClient(address, () => layout, {
    callTimeoutMs: 30_000,
    roundWaitTimeoutMs: 600_000,
    transferTimeoutMs: 600_000,
  });
  const reg = await client.register({ runId: '', workerName: `bench-${process.pid}`, backend: 'none' });
  const grads = new Float32Array(layoutLength(layout));
  for (let i = 0; i < grads.length; i++) grads[i] = ((i % 2001) - 1000) * 1e-6;
  let from = 0;
  for (let r = 0; r < rounds; r++) {
    const work = await client.nextRound(reg.workerId, from);
    if (!work) break;
    from = work.round + 1;
    const t0 = performance.now();
    await client.fetchParameters(reg.workerId, work.version);
    const t1 = performance.now();
    const samples = work.batches.reduce((n, b) => n + b.indices.length, 0);
    await client.contribute({
      workerId: reg.workerId,
      round: work.round,
      version: work.version,
      kind: 'gradients',
      sampleCount: samples,
      lossSum: 0,
      correct: 0,
      trainMs: 0,
      values: grads,
      layout,
    });
    if (process.env.FLEET_BENCH_VERBOSE)
      console.error(
        `worker ${process.pid} round ${work.round}: download ${(t1 - t0).toFixed(0)} ms, upload ${(performance.now() - t1).toFixed(0)} ms`,
      );
  }
  client.close();
}

/** Raw TCP, one stream: a child sends `bytes` to this process; resolves with MB/s. */
async function rawTcpStream(bytes: number): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const received = new Promise<number>((resolve) => {
    server.once('connection', (socket) => {
      let got = 0;
      let started = 0;
      socket.on('data', (d: Buffer) => {
        if (got === 0) started = performance.now();
        got += d.length;
        if (got >= bytes) {
          resolve(performance.now() - started);
          socket.destroy();
        }
      });
    });
  });
  const child = spawn(process.execPath, [SELF, 'tcp-send', String(port), String(bytes)], { stdio: 'inherit' });
  const ms = await received;
  await new Promise((resolve) => child.on('close', resolve));
  server.close();
  return bytes / 1e6 / (ms / 1000);
}

async function tcpSendMain(port: number, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(1 << 20, 7);
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  let sent = 0;
  while (sent < bytes) {
    const n = Math.min(chunk.length, bytes - sent);
    if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await new Promise((resolve) => socket.once('drain', resolve));
    sent += n;
  }
  await new Promise<void>((resolve) => socket.end(resolve));
  await new Promise((resolve) => socket.once('close', resolve));
}

/**
 * Calls `onFull` each time `size` bytes have arrived on `socket`, copied into
 * `into` (kept across rounds, as fleet's workers keep theirs).
 */
function receiveRepeatedly(socket: Socket, into: Buffer, onFull: () => void): void {
  let got = 0;
  socket.on('data', (d: Buffer) => {
    let at = 0;
    while (at < d.length) {
      const n = Math.min(d.length - at, into.length - got);
      d.copy(into, got, at, at + n);
      got += n;
      at += n;
      if (got === into.length) {
        got = 0;
        onFull();
      }
    }
  });
}

/**
 * Raw TCP shaped like a round: N child processes connect; each round this
 * process sends every child the set's bytes, and each child, once it has
 * them all, sends as many back. Round time: from the sends to the last
 * byte back. The first round is not counted, as in the gRPC bench.
 */
async function rawTcpRound(workers: number, bytes: number, rounds: number): Promise<number[]> {
  const payload = Buffer.alloc(bytes, 7);
  const into = Buffer.alloc(bytes);
  const sockets: Socket[] = [];
  let back = 0;
  let roundDone: () => void = () => {};
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.push(socket);
    receiveRepeatedly(socket, into, () => {
      if (++back === workers) roundDone();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const children = Array.from({ length: workers }, () =>
    spawn(process.execPath, [...process.execArgv, SELF, 'tcp-round-worker', String(port), String(bytes)], { stdio: 'inherit' }),
  );
  while (sockets.length < workers) await new Promise((resolve) => setTimeout(resolve, 10));
  const times: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    back = 0;
    const done = new Promise<void>((resolve) => {
      roundDone = resolve;
    });
    const t0 = performance.now();
    for (const socket of sockets) socket.write(payload);
    await done;
    if (r > 0) times.push(performance.now() - t0);
  }
  for (const socket of sockets) socket.end();
  await Promise.all(children.map((c) => new Promise((resolve) => c.on('close', resolve))));
  server.close();
  return times;
}

async function tcpRoundWorkerMain(port: number, bytes: number): Promise<void> {
  const into = Buffer.alloc(bytes);
  const upload = Buffer.alloc(bytes, 3);
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  receiveRepeatedly(socket, into, () => {
    socket.write(upload);
  });
  await new Promise((resolve) => socket.once('close', resolve));
}

async function roundBench(
  workers: number,
  rounds: number,
  growth: HeapGrowth,
  compress: Compress = 'none',
): Promise<{ roundMs: number[]; bytesPerRound: number; wireBytesPerRound: number; rssAboveMb: number; paramMb: number }> {
  applyHeapGrowth(growth);
  await tf.setBackend('cpu');
  const model = buildModel({ name: MODEL, seed: 1 });
  const layout = weightLayout(model);
  // As the coordinator keeps them: in one vector memory with the sums and the receive scratch.
  const vectors = coordinatorVectorMemory(layoutLength(layout));
  const params = vectors.adopt(readWeights(model, layout, new Float32Array(layoutLength(layout))));
  model.dispose();
  const config = parseTrainConfig({
    runId: 'bench',
    workers,
    model: MODEL,
    epochs: 1000,
    batchSize: 1,
    lr: 0.01,
    minLr: 0,
    warmupEpochs: 0,
    momentum: 0.9,
    weightDecay: 0,
    augment: 'none',
    mixupAlpha: 0,
    cutmixAlpha: 0,
    labelSmoothing: 0,
    dataDir: '-',
    download: false,
    allowPartial: true,
    limitTrain: null,
    limitTest: null,
    seed: 1,
    backend: 'cpu',
    outDir: '-',
    evalBatchSize: 1,
    progress: 'log',
    syncEvery: 1,
    lrScaling: 'none',
    compress,
  });
  const count = workers * 1000;
  const closes: number[] = [];
  // The bytes the server moved (its own count, per fetch and contribution), as each round closed.
  const exchange = new ExchangeCounter();
  const moved: number[] = [];
  const controller = new RoundController({
    config,
    plan: planTraining(config, count),
    layout,
    params,
    momentum: vectors.zeros(params.length),
    vectors,
    sampler: new EpochSampler({ seed: 1, count, batchSize: 1, syncEvery: 1, epoch: 1 }),
    expectedWorkers: workers,
    roundTimeoutMs: 600_000,
    heartbeatTimeoutMs: 600_000,
    checkpointEveryRounds: 0,
    // The controller's own 'round closed' log lines time the rounds.
    log: pino(
      { level: 'info' },
      {
        write: (line: string) => {
          if (line.includes('"msg":"round closed"')) {
            closes.push(performance.now());
            moved.push(exchange.in + exchange.out);
          }
        },
      },
    ),
    hooks: { onEpochEnd: async () => {}, onCheckpoint: async () => {} },
  });
  const server = await startCoordinatorServer(
    controller,
    { config, layout, log: silent, vectors, exchange },
    { host: '127.0.0.1', port: 0, heartbeatIntervalMs: 60_000 },
  );
  global.gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  // One extra round first: connections, JIT; it is not counted.
  const children = Array.from({ length: workers }, () =>
    spawn(process.execPath, [...process.execArgv, SELF, 'worker', `127.0.0.1:${server.port}`, String(rounds + 1), growth], {
      stdio: 'inherit',
    }),
  );
  await Promise.all(children.map((c) => new Promise((resolve) => c.on('close', resolve))));
  clearInterval(sampler);
  controller.close('bench over');
  await server.shutdown(1000);
  const roundMs = closes.slice(1).map((t, i) => t - closes[i]!);
  // Between two closes: the next round's fetches and contributions (the warm-up round not counted).
  const wireBytesPerRound = (moved[moved.length - 1]! - moved[0]!) / (moved.length - 1);
  return {
    roundMs,
    // float32 rows keep the formula of the original table; compressed rows report what was moved.
    bytesPerRound: compress === 'none' ? 2 * workers * params.byteLength : wireBytesPerRound,
    wireBytesPerRound,
    rssAboveMb: (peak - baseline) / 1e6,
    paramMb: params.byteLength / 1e6,
  };
}

/** V8's GC threads of a row: fleet's launcher rule (launcher/gc-threads.ts), or V8's parallel collector. */
type GcMode = 'auto' | 'parallel';

/**
 * Runs `mode` of this file in a child process with node `flags` (its
 * children inherit them), and returns the JSON it reports on its RESULT line.
 */
function inChild<T>(mode: string, args: (string | number)[], flags: readonly string[], env: Record<string, string> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, SELF, mode, ...args.map(String)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT));
      if (code !== 0 || !line) reject(new Error(`exchange-round ${mode} child exited with ${code}`));
      else resolve(JSON.parse(line.slice(RESULT.length)) as T);
    });
  });
}
const RESULT = 'RESULT ';
const average = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

type RoundResult = Awaited<ReturnType<typeof roundBench>>;

/**
 * The bytes one round of `model` moves with `workers` workers in each format, as the coordinator's server counted
 * them, and the round times: `rounds` rounds a format after one warm-up, each format in its own coordinator process.
 */
export async function compressedRounds(
  model: string,
  workers: number,
  rounds: number,
  formats: readonly Compress[],
): Promise<Map<Compress, RoundResult>> {
  const out = new Map<Compress, RoundResult>();
  const flags = gcNodeFlags('auto', workers + 1);
  for (const compress of formats)
    out.set(compress, await inChild<RoundResult>('round', [workers, rounds, 'tuned', compress], flags, { FLEET_BENCH_MODEL: model }));
  return out;
}

export async function run(): Promise<void> {
  const workerCounts = (process.env.FLEET_BENCH_WORKERS ?? '2,8').split(',').map(Number);
  const rounds = Number(process.env.FLEET_BENCH_ROUNDS ?? 5);
  const formats = compressFormats();
  console.log(
    `exchange-round: ${MODEL}-sized tensor set, ${rounds} rounds after 1 warm-up, loopback; a round = every worker downloads the parameters and uploads gradients`,
  );
  console.log(
    "raw TCP round: the same processes and bytes, copied into kept buffers, no gRPC and no checks; raw TCP stream: all the round's bytes in one stream one way",
  );
  console.log(
    "the coordinator (and the raw TCP round's server) run in a child process with the node flags fleet's launcher gives a cluster of that size: --single-threaded-gc when the processes outnumber the CPUs (launcher/gc-threads.ts)",
  );
  if (formats) console.log('--compress: GB/s and the raw TCP rows count the bytes a round moved in its format (the last column)');
  console.log(
    `workers\theap growth\tGC\tround ms (mean +- std)\tGB/s\traw TCP round GB/s\tratio\traw TCP stream GB/s\tratio\tcoordinator RSS above baseline (MB)\tx parameter bytes${formats ? '\tcompress\tMB moved per round' : ''}`,
  );
  const runs: [number, HeapGrowth, GcMode, Compress][] = workerCounts.flatMap((w) =>
    (formats ?? ['none' as const]).map((c): [number, HeapGrowth, GcMode, Compress] => [w, 'tuned', 'auto', c]),
  );
  // Each tuning's gain, side by side: the largest round once more with V8's default heap growth, and with its parallel GC
  // (float32: the original table's rows; not repeated per format).
  const largest = Math.max(...workerCounts);
  // FLEET_BENCH_TUNINGS=1 only: two more of the largest, slowest rows (each tuning was decided on them; see benchmark-history.md).
  if (!formats && process.env.FLEET_BENCH_TUNINGS === '1')
    runs.push([largest, 'default', 'auto', 'none'], [largest, 'tuned', 'parallel', 'none']);
  const bench = 'exchange-round';
  const command = benchCommand(bench);
  // The tuned rows' GB/s by worker count and format: the reference of the tunings' rows.
  const tunedGbps = new Map<string, number>();
  for (const [workers, growth, gc, compress] of runs) {
    // The node flags fleet's launcher gives a cluster of workers + 1 processes, or none (V8's parallel GC).
    const flags = gcNodeFlags(gc === 'auto' ? 'auto' : 'off', workers + 1);
    const r = await inChild<RoundResult>('round', [workers, rounds, growth, compress], flags);
    const { mean, std } = meanStd(r.roundMs);
    const gbps = r.bytesPerRound / 1e9 / (mean / 1000);
    // The raw TCP round with the same node flags, the tuned heap whatever the row.
    const tcpTimes = await inChild<number[]>('tcp-round', [workers, r.bytesPerRound / (2 * workers), rounds], flags);
    const tcpRound = r.bytesPerRound / 1e9 / (meanStd(tcpTimes).mean / 1000);
    const tcpStream = (await rawTcpStream(r.bytesPerRound)) / 1000;
    const gcName = flags.includes('--single-threaded-gc') ? 'single-threaded' : 'parallel';
    const perRound = r.roundMs.map((ms) => r.bytesPerRound / 1e9 / (ms / 1000));
    const what = `${workers} worker(s), ${MODEL}${compress !== 'none' ? `, --compress ${compress}` : ''}`;
    const tuning = growth === 'tuned' && gc === 'auto' ? '' : growth !== 'tuned' ? ", V8's default heap growth" : ", V8's parallel GC";
    const limits = `one gRPC stream a worker through the coordinator's one JS thread, on 2 cores shared by ${workers + 1} processes`;
    if (!tuning) {
      tunedGbps.set(`${workers} ${compress}`, average(perRound));
      recordFigure(
        figureOf(
          {
            bench,
            name: `${what}: a round's GB/s (n = rounds)`,
            unit: 'GB/s',
            reference: { name: 'a raw TCP round of the same shape', mean: tcpRound },
            ...(workers >= 2 ? { goal: { of: 'ratio' as const, op: '>=' as const, value: 0.5 } } : {}),
            limits,
            command,
          },
          perRound,
        ),
      );
      recordFigure(
        figureOf(
          {
            bench,
            name: `${what}: the coordinator's RSS above its baseline, x the parameter bytes (n=1 run)`,
            unit: 'x',
            goal: { of: 'mean', op: '<=', value: 3 },
            command,
          },
          [r.rssAboveMb / r.paramMb],
        ),
      );
    } else {
      const ref = tunedGbps.get(`${workers} ${compress}`);
      recordFigure(
        figureOf(
          {
            bench,
            name: `${what}${tuning}: a round's GB/s (n = rounds)`,
            unit: 'GB/s',
            ...(ref !== undefined
              ? { reference: { name: `the same round with fleet's tuning (${HEAP_GROWING_PERCENT}% heap growth, its GC rule)`, mean: ref } }
              : {}),
            command,
          },
          perRound,
        ),
      );
    }
    console.log(
      [
        workers,
        growth === 'tuned' ? `${HEAP_GROWING_PERCENT}%` : 'V8 default',
        gcName,
        `${mean.toFixed(0)} +- ${std.toFixed(0)}`,
        gbps.toFixed(3),
        tcpRound.toFixed(3),
        (gbps / tcpRound).toFixed(2),
        tcpStream.toFixed(3),
        (gbps / tcpStream).toFixed(2),
        r.rssAboveMb.toFixed(0),
        (r.rssAboveMb / r.paramMb).toFixed(2),
        ...(formats ? [compress, (r.wireBytesPerRound / 1e6).toFixed(1)] : []),
      ].join('\t'),
    );
  }
}

const [mode, a, b, c, d] = process.argv.slice(2);
if (mode === 'worker') await workerMain(a!, Number(b), c === 'default' ? 'default' : 'tuned');
else if (mode === 'round')
  console.log(
    RESULT + JSON.stringify(await roundBench(Number(a), Number(b), c === 'default' ? 'default' : 'tuned', (d ?? 'none') as Compress)),
  );
else if (mode === 'tcp-round') {
  tuneHeapForTransfers();
  console.log(RESULT + JSON.stringify(await rawTcpRound(Number(a), Number(b), Number(c))));
} else if (mode === 'tcp-send') {
  tuneHeapForTransfers();
  await tcpSendMain(Number(a), Number(b));
} else if (mode === 'tcp-round-worker') {
  tuneHeapForTransfers();
  await tcpRoundWorkerMain(Number(a), Number(b));
} else if (isMain(import.meta.url)) await run();
