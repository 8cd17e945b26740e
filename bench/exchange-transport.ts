/**
 * Point-to-point transport of one ResNet-18-sized tensor set (11.2 M floats,
 * 44.7 MB) over loopback: gRPC with fleet's chunked streams (rpc/tensor-stream.ts,
 * 1 MiB chunks) against a raw TCP socket moving the same bytes, in the same
 * run. Both directions: download (FetchParameters: request, then the set
 * streamed back and assembled with its checks) and upload (Contribute: the
 * set streamed, assembled and checked by the server, then the answer). gRPC
 * runs with both codecs: fleet's (rpc/coordinator-service.ts: data chunks
 * written with one copy, read as views) and ts-proto's generated one.
 * The TCP receiver copies into one preallocated buffer, as the assembler does.
 * FLEET_BENCH_RUNS (5) timed runs after one warm-up. Recorded (figures.ts):
 * each gRPC transfer's MB/s against raw TCP's in the same direction.
 *
 * The server side runs in this process; the client side in a child process
 * (`node exchange-transport.js client PORTS...`), so sender and receiver have
 * their own event loops as in a real cluster. Both tune their heap as fleet's
 * processes do (runtime/heap-tuning.ts).
 */
import {
  credentials,
  Metadata,
  type ServerReadableStream,
  type ServerWritableStream,
  type sendUnaryData,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { packTensorSet, planTensorSet, type TensorSet, type TensorSpec } from '../src/exchange/index.js';
import {
  ContributionKind,
  CoordinatorClient,
  CoordinatorService,
  type ContributeResponse,
  type ContributionChunk,
  type FetchParametersRequest,
  type TensorChunk,
} from '../proto/gen/fleet/v1/coordinator.js';
import {
  CHANNEL_OPTIONS,
  FleetCoordinatorClient,
  FleetCoordinatorService,
  bindGrpcServer,
  createGrpcServer,
  receiveContribution,
  receiveTensorSet,
  sendContribution,
  sendTensorSet,
  shutdownGrpcServer,
  toServiceError,
} from '../src/rpc/index.js';
import { tuneHeapForTransfers } from '../src/runtime/heap-tuning.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';
import { gitSha } from './git-sha.js';

const SELF = fileURLToPath(import.meta.url);
const MB = 1e6;

/** ResNet-18 for CIFAR (3x3 stem, 4 stages of 2 basic blocks, 10 classes): 11,173,962 trainable + 9,600 BatchNorm statistics. */
export function resnet18Specs(): TensorSpec[] {
  const specs: TensorSpec[] = [];
  const conv = (name: string, k: number, cin: number, cout: number) =>
    specs.push({ name: `${name}/kernel`, shape: [k, k, cin, cout], trainable: true });
  const bn = (name: string, c: number) => {
    for (const w of ['gamma', 'beta']) specs.push({ name: `${name}/${w}`, shape: [c], trainable: true });
    for (const w of ['moving_mean', 'moving_variance']) specs.push({ name: `${name}/${w}`, shape: [c], trainable: false });
  };
  conv('stem_conv', 3, 3, 64);
  bn('stem_bn', 64);
  let cin = 64;
  [64, 128, 256, 512].forEach((c, stage) => {
    for (let block = 0; block < 2; block++) {
      const p = `stage${stage + 1}_block${block + 1}`;
      conv(`${p}_conv1`, 3, block === 0 ? cin : c, c);
      bn(`${p}_bn1`, c);
      conv(`${p}_conv2`, 3, c, c);
      bn(`${p}_bn2`, c);
      if (block === 0 && cin !== c) {
        conv(`${p}_shortcut_conv`, 1, cin, c);
        bn(`${p}_shortcut_bn`, c);
      }
    }
    cin = c;
  });
  specs.push({ name: 'fc/kernel', shape: [512, 10], trainable: true }, { name: 'fc/bias', shape: [10], trainable: true });
  return specs;
}

function resnet18Set(seed: number): TensorSet {
  return packTensorSet(
    resnet18Specs().map((s) => {
      const values = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 0.618 + seed) * 0.05;
      return { ...s, values };
    }),
    1,
  );
}

// ---- server side (this process) ---------------------------------------------

async function startGrpc(service: ServiceDefinition, params: TensorSet): Promise<{ port: number; stop(): Promise<void> }> {
  const expected = params.entries;
  // As the coordinator does: contributions land in a buffer reused across rounds.
  const into = new Uint8Array(params.buffer.byteLength);
  const server = createGrpcServer();
  const none = (_: unknown, cb: sendUnaryData<never>) => cb({ code: 12, details: 'not in this bench' }, null);
  server.addService(service, {
    register: none,
    nextRound: none,
    heartbeat: none,
    leave: none,
    fetchParameters(call: ServerWritableStream<FetchParametersRequest, TensorChunk>) {
      sendTensorSet(call, params).catch((err: unknown) => call.destroy(err as Error));
    },
    contribute(call: ServerReadableStream<ContributionChunk, ContributeResponse>, cb: sendUnaryData<ContributeResponse>) {
      receiveContribution(call, { expected, maxTotalBytes: params.buffer.byteLength, into }).then(
        (c) => cb(null, { round: c.header.round, nextVersion: c.header.version + 1 }),
        (err: unknown) => cb(toServiceError(err), null),
      );
    },
  });
  const port = await bindGrpcServer(server, '127.0.0.1', 0);
  return { port, stop: () => shutdownGrpcServer(server, 2000) };
}

/**
 * Raw TCP with the same shape of exchange: a 1-byte request 'D' is answered
 * with the set's bytes; an upload 'U' + bytes is answered with one byte once
 * all have arrived (copied into one buffer).
 */
async function startTcp(params: TensorSet): Promise<{ port: number; stop(): void }> {
  const total = params.buffer.byteLength;
  const payload = Buffer.from(params.buffer.buffer, params.buffer.byteOffset, total);
  const into = Buffer.allocUnsafe(total);
  const server: NetServer = createServer((socket: Socket) => {
    let mode: 'idle' | 'upload' = 'idle';
    let got = 0;
    socket.on('data', (d: Buffer) => {
      let data = d;
      if (mode === 'idle') {
        const op = data[0];
        data = data.subarray(1);
        if (op === 0x44) {
          socket.write(payload);
          return;
        }
        mode = 'upload';
        got = 0;
      }
      data.copy(into, got);
      got += data.length;
      if (got >= total) {
        mode = 'idle';
        socket.write(Buffer.of(1));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, stop: () => server.close() };
}

// ---- client side (child process) --------------------------------------------

type Timings = Record<string, number[]>;

async function clientMain(fleetPort: number, generatedPort: number, tcpPort: number, runs: number): Promise<void> {
  const grads = resnet18Set(2);
  const expected = planTensorSet(resnet18Specs());
  const total = grads.buffer.byteLength;
  // A worker keeps its parameter buffer across rounds: downloads land in
  // memory already touched (fresh pages cost more than the copy itself).
  const into = new Uint8Array(total);
  const timings: Timings = {};
  const record = (key: string, ms: number, i: number) => {
    if (i > 0) {
      timings[key] ??= [];
      timings[key].push(ms);
    }
  };
  const deadline = () => new Date(Date.now() + 120_000);

  for (const [codec, port, Client] of [
    ['fleet', fleetPort, FleetCoordinatorClient],
    ['generated', generatedPort, CoordinatorClient],
  ] as const) {
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), CHANNEL_OPTIONS);
    for (let i = 0; i <= runs; i++) {
      let t0 = performance.now();
      const set = await receiveTensorSet(client.fetchParameters({ workerId: 'bench', version: 0, tensors: [] }, { deadline: deadline() }), {
        expected,
        maxTotalBytes: total,
        into,
      });
      if (set.buffer !== into) throw new Error('download not assembled in place');
      record(`grpc ${codec} download`, performance.now() - t0, i);
      t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const call = client.contribute(new Metadata(), { deadline: deadline() }, (err) => (err ? reject(err) : resolve()));
        sendContribution(
          call,
          {
            workerId: 'bench',
            round: i,
            version: 1,
            sampleCount: 1,
            kind: ContributionKind.CONTRIBUTION_KIND_GRADIENTS,
            lossSum: 0,
            correct: 0,
            trainMs: 0,
          },
          grads,
        ).catch(reject);
      });
      record(`grpc ${codec} upload`, performance.now() - t0, i);
    }
    client.close();
  }

  const socket = connect(tcpPort, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const payload = Buffer.from(grads.buffer.buffer, grads.buffer.byteOffset, total);
  for (let i = 0; i <= runs; i++) {
    let t0 = performance.now();
    await new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Buffer) => {
        d.copy(into, got);
        got += d.length;
        if (got >= total) {
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
      socket.write(Buffer.of(0x44));
    });
    record('tcp download', performance.now() - t0, i);
    t0 = performance.now();
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write(Buffer.of(0x55));
      socket.write(payload);
    });
    record('tcp upload', performance.now() - t0, i);
  }
  socket.destroy();
  process.stdout.write(`${JSON.stringify(timings)}\n`);
}

// ---- the bench ----------------------------------------------------------------

export async function run(): Promise<void> {
  tuneHeapForTransfers();
  const runs = Number(process.env.FLEET_BENCH_RUNS ?? 5);
  const params = resnet18Set(1);
  const total = params.buffer.byteLength;
  const floats = total / 4;
  const sha = gitSha();
  console.log(
    `exchange-transport: one tensor set of ${(floats / 1e6).toFixed(2)} M floats (${(total / MB).toFixed(1)} MB), loopback, ${runs} runs after 1 warm-up; ` +
      `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, git ${sha}; 1 MiB chunks`,
  );
  const fleet = await startGrpc(FleetCoordinatorService, params);
  const generated = await startGrpc(CoordinatorService, params);
  const tcp = await startTcp(params);
  const child = spawn(
    process.execPath,
    [...process.execArgv, SELF, 'client', String(fleet.port), String(generated.port), String(tcp.port), String(runs)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  await fleet.stop();
  await generated.stop();
  tcp.stop();
  if (code !== 0) throw new Error(`bench client exited with ${code}`);
  const timings = JSON.parse(out.trim().split('\n').at(-1)!) as Timings;

  const rate = (key: string) => {
    const mbps = (timings[key] ?? []).map((ms) => total / MB / (ms / 1000));
    return meanStd(mbps);
  };
  const bench = 'exchange-transport';
  const command = benchCommand(bench);
  const samples = (key: string) => (timings[key] ?? []).map((ms) => total / MB / (ms / 1000));
  for (const direction of ['download', 'upload']) {
    const raw = recordFigure(
      figureOf(
        { bench, name: `raw TCP ${direction}, one ${(total / MB).toFixed(1)} MB set: MB/s (n = transfers)`, unit: 'MB/s', command },
        samples(`tcp ${direction}`),
      ),
    );
    for (const codec of ['fleet', 'generated']) {
      recordFigure(
        figureOf(
          {
            bench,
            name: `gRPC ${direction}, ${codec === 'fleet' ? "fleet's chunk codec" : "ts-proto's generated codec"}: MB/s (n = transfers)`,
            unit: 'MB/s',
            reference: { name: `raw TCP ${direction}`, mean: raw.mean },
            command,
          },
          samples(`grpc ${codec} ${direction}`),
        ),
      );
    }
  }
  console.log('transfer\tMB/s (mean +- std)\tvs raw TCP');
  for (const direction of ['download', 'upload']) {
    const raw = rate(`tcp ${direction}`);
    for (const key of [`grpc fleet ${direction}`, `grpc generated ${direction}`, `tcp ${direction}`]) {
      const r = rate(key);
      console.log(`${key}\t${r.mean.toFixed(0)} +- ${r.std.toFixed(0)}\t${(r.mean / raw.mean).toFixed(2)}`);
    }
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'client') {
  tuneHeapForTransfers();
  await clientMain(Number(args[0]), Number(args[1]), Number(args[2]), Number(args[3]));
} else if (isMain(import.meta.url)) await run();
