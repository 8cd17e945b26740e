/**
 * Resource limits on the wire, measured: a real
 * `fleet coordinator` and 2 workers train on generated images for
 * FLEET_BENCH_SECONDS undisturbed, then as long again while raw clients
 * misbehave on the same coordinator, side by side in one run: crowds of
 * Contribute streams left open, 2 MiB messages, uploads past their
 * manifest, uploads from no member, parameter fetch floods, and silent TCP
 * connections. Prints the coordinator's resident memory (mean and peak) and
 * the workers' round time (the coordinator's roundMs) in each phase, and
 * what the limits refused. The coordinator runs with its default limits.
 */
import { connect, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status as Status } from '@grpc/grpc-js';
import { startLineProcess, type LineProcess } from '../test/helpers/line-process.js';
import { writeCifar10Files } from '../test/fixtures/cifar10-files.js';
import { RawCoordinator, type CallOutcome } from '../test/helpers/raw-coordinator.js';
import { chunkTensorSet, wrapTensorSet } from '../src/exchange/index.js';
import { ContributionKind, type ContributionChunk, type ContributionHeader } from '../proto/gen/fleet/v1/coordinator.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';

const BENCH = 'wire-abuse';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FLEET = join(ROOT, 'cli/fleet.js');

function knobs() {
  const env = process.env;
  return {
    seconds: Number(env.FLEET_BENCH_SECONDS ?? 20),
    model: env.FLEET_BENCH_MODEL ?? 'cnn',
    batch: Number(env.FLEET_BENCH_BATCH ?? 32),
    abuse: new Set((env.FLEET_BENCH_ABUSE ?? 'crowd,uploads,fetch,silent').split(',').filter(Boolean)),
  };
}

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Phase {
  rss: number[];
  roundMs: number[];
}

/** RSS samples every 200 ms and the rounds the coordinator closed during `ms`. */
async function measure(coordinator: LineProcess, ms: number): Promise<Phase> {
  const pid = coordinator.child.pid!;
  const from = Date.now();
  const rss: number[] = [];
  while (Date.now() - from < ms) {
    rss.push(rssMb(pid));
    await sleep(200);
  }
  const to = Date.now();
  const roundMs = coordinator.lines
    .filter((l) => l.includes('"msg":"round closed"'))
    .map((l) => JSON.parse(l) as { time: number; roundMs: number })
    .filter((l) => l.time >= from && l.time <= to)
    .map((l) => l.roundMs);
  return { rss, roundMs };
}

/** The misbehaving clients, each in a loop until `stop`; counts of how their calls ended. */
function abuse(
  port: number,
  memberId: string,
  model: { entries: ReturnType<typeof wrapTensorSet>['entries']; bytes: number },
  kinds: Set<string>,
) {
  const address = `127.0.0.1:${port}`;
  const outcomes = new Map<string, number>();
  const count = (what: string, o: CallOutcome) => {
    const key = `${what} ${Status[o.code]}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  };
  let stopped = false;
  const header = (workerId: string): Omit<ContributionHeader, 'manifest'> => ({
    workerId,
    round: 0,
    version: 1,
    sampleCount: 1,
    kind: ContributionKind.CONTRIBUTION_KIND_GRADIENTS,
    lossSum: 0,
    correct: 0,
    trainMs: 1,
  });
  const headOf = (workerId: string): ContributionChunk => {
    const first = chunkTensorSet(wrapTensorSet(model.entries, new Float32Array(model.bytes / 4), 1)).next().value!;
    return {
      part: { $case: 'header', value: { ...header(workerId), manifest: first.part?.$case === 'manifest' ? first.part.value : undefined } },
    };
  };
  const data = (n: number): ContributionChunk => ({ part: { $case: 'data', value: Buffer.alloc(n) } });
  const loop = async (body: () => Promise<void>) => {
    while (!stopped) await body();
  };
  const crowds = Array.from({ length: 10 }, () => new RawCoordinator(address, 2000, true));
  const raw = new RawCoordinator(address, 10_000, true);
  const fetchers = Array.from({ length: 4 }, () => new RawCoordinator(address, 30_000, true));
  const sockets: Socket[] = [];
  const tasks = [
    // Crowds of Contribute streams with no header, left open until their own 2 s deadline.
    ...(kinds.has('crowd') ? crowds : []).map((c) =>
      loop(async () => {
        const streams = Array.from({ length: 6 }, () => c.openContribute({ deadlineMs: 2000 }));
        for (const s of streams) count('crowd contribute', await s.outcome);
      }),
    ),
    // A 2 MiB message, an upload past its manifest (as a member), one from no member.
    ...(kinds.has('uploads') ? [0] : []).map(() =>
      loop(async () => {
        count('2 MiB message', await raw.contribute([headOf(memberId), data(2 * 1024 * 1024)]));
        count(
          'endless upload',
          await raw.contribute([headOf(memberId), ...Array.from({ length: Math.ceil(model.bytes / 262144) + 4 }, () => data(262144))]),
        );
        count('foreign upload', await raw.contribute([headOf('w999999-nobody'), data(1024)]));
      }),
    ),
    // Fetch floods: four connections, six fetches each at once (the per-connection limit is 4).
    ...(kinds.has('fetch') ? fetchers : []).map((f) =>
      loop(async () => {
        const all = await Promise.all(Array.from({ length: 6 }, () => f.fetchOutcome(0)));
        for (const o of all) count('fetch flood', o);
      }),
    ),
    // Silent TCP connections, 20 every second (never a byte of HTTP/2).
    ...(kinds.has('silent') ? [0] : []).map(() =>
      loop(async () => {
        for (let i = 0; i < 20; i++) {
          const s = connect(port, '127.0.0.1');
          s.on('error', () => {});
          s.resume();
          sockets.push(s);
        }
        await sleep(1000);
      }),
    ),
  ];
  return {
    outcomes,
    sockets,
    async stop() {
      stopped = true;
      await Promise.all(tasks);
      for (const c of [...crowds, raw, ...fetchers]) c.close();
      const open = sockets.filter((s) => !s.closed).length;
      for (const s of sockets) s.destroy();
      return open;
    },
  };
}

export async function run(): Promise<void> {
  const o = knobs();
  const root = await mkdtemp(join(tmpdir(), 'fleet-bench-wire-'));
  const started: LineProcess[] = [];
  const fleet = (args: string[]) => {
    const p = startLineProcess(process.execPath, [FLEET, ...args]);
    started.push(p);
    return p;
  };
  try {
    const dataDir = join(root, 'data');
    await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 2048, testCount: 100, pattern: 'learnable', seed: 3 });
    // --epochs large: the run outlasts both phases and is stopped at the end.
    const c = fleet([
      'coordinator',
      ...['--host', '127.0.0.1', '--port', '0', '--run-id', 'wire-abuse', '--out', join(root, 'out'), '--data-dir', dataDir],
      ...['--allow-partial', '--model', o.model, '--backend', 'wasm', '--workers', '2', '--epochs', '1000'],
      ...['--batch-size', String(o.batch), '--limit-test', '100', '--eval-batch-size', '100', '--checkpoint-every', '0'],
    ]);
    const port = Number(/"port":(\d+)/.exec(await c.waitFor(/"msg":"listening"/))![1]);
    for (const i of [0, 1]) fleet(['worker', '--coordinator', `127.0.0.1:${port}`, '--name', `bench-w${i}`, '--connect-timeout', '60']);
    await c.waitFor(/"msg":"round closed"/);
    const memberId = String((JSON.parse(c.lines.find((l) => l.includes('"msg":"worker registered"'))!) as { worker: string }).worker);
    const probe = new RawCoordinator(`127.0.0.1:${port}`);
    const set = await probe.fetch(0);
    probe.close();
    const model = { entries: set.entries, bytes: set.buffer.byteLength };
    await sleep(2000); // past the first rounds' warm-up
    const clean = await measure(c, o.seconds * 1000);
    const abuser = abuse(port, memberId, model, o.abuse);
    const abused = await measure(c, o.seconds * 1000);
    const stillOpen = await abuser.stop();
    const refused = [...abuser.outcomes].map(([k, n]) => `${k} x${n}`).join(', ');
    console.log(
      `wire-abuse: ${o.model}, parameters ${(model.bytes / 1e6).toFixed(2)} MB; ${abuser.sockets.length} silent sockets (${stillOpen} still open at the end)`,
    );
    console.log(`  outcomes: ${refused}`);
    const summary = (name: string, p: Phase) => {
      const r = meanStd(p.roundMs);
      console.log(
        `  ${name}: rounds ${p.roundMs.length}, round ${r.mean.toFixed(0)} +- ${r.std.toFixed(0)} ms; coordinator RSS mean ${meanStd(p.rss).mean.toFixed(0)} MB, peak ${Math.max(...p.rss).toFixed(0)} MB`,
      );
    };
    summary('clean ', clean);
    summary('abused', abused);
    const cleanRound = meanStd(clean.roundMs).mean;
    const cleanPeak = Math.max(...clean.rss);
    const limits = `abuse (${[...o.abuse].join(',')}): ${refused}; ${abuser.sockets.length} silent sockets`;
    recordFigure(
      figureOf(
        { bench: BENCH, name: `${o.model}, 2 workers: round time, undisturbed`, unit: 'ms', command: benchCommand(BENCH) },
        clean.roundMs,
      ),
    );
    recordFigure(
      figureOf(
        {
          bench: BENCH,
          name: `${o.model}, 2 workers: round time while raw clients misbehave`,
          unit: 'ms',
          reference: { name: 'undisturbed, same run', mean: cleanRound },
          limits,
          command: benchCommand(BENCH),
        },
        abused.roundMs,
      ),
    );
    recordFigure(
      figureOf({ bench: BENCH, name: 'coordinator RSS, undisturbed (peak)', unit: 'MB', command: benchCommand(BENCH) }, [cleanPeak]),
    );
    recordFigure(
      figureOf(
        {
          bench: BENCH,
          name: 'coordinator RSS while raw clients misbehave (peak)',
          unit: 'MB',
          reference: { name: 'undisturbed peak, same run', mean: cleanPeak },
          limits: `parameters ${(model.bytes / 1e6).toFixed(2)} MB`,
          command: benchCommand(BENCH),
        },
        [Math.max(...abused.rss)],
      ),
    );
  } finally {
    for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(started.map((p) => p.exited));
    await rm(root, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await run();
