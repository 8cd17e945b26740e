import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_NAME } from '../../src/events/index.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, type FleetProcess } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { expectRefusal, snapshotTree } from '../helpers/refusal.js';
import { runFleet, type FleetResult } from '../helpers/run-fleet.js';

/**
 * Issue 14's user study, item by item: what a new user tried and what fleet
 * now answers. Every case runs the real command and checks its exit code, the
 * one `fleet:` line naming the flag or file (refusals), and that nothing under
 * the test's folder changed: a refusal, a read-only command or a failed
 * start leaves the file system as it was.
 */
interface Ctx {
  root: string;
  data: string;
  /** A finished two-epoch run. */
  used: string;
  /** A regular file. */
  file: string;
  /** A port nothing listens on, and one a plain TCP server holds. */
  closedPort: number;
  busyPort: number;
  /** A coordinator of run 'run-a' waiting for its worker (its run directory outside root). */
  coordinatorPort: number;
  natsUrl: string | null;
}

interface Case {
  /** The item of issue 14's list. */
  item: number;
  what: string;
  args: (c: Ctx) => string[];
  code: number;
  /** The one `fleet:` line on stderr; absent: a command that succeeds (code 0) with `output`. */
  refusal?: (c: Ctx) => RegExp;
  /** stdout and stderr together must match. */
  output?: RegExp;
  notOutput?: RegExp;
  needsNats?: boolean;
  /** More to check once it ran. */
  after?: (c: Ctx) => Promise<void>;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const tiny = (c: Ctx) => ['--model', 'tiny', '--batch-size', '32', '--data-dir', c.data, '--allow-partial', '--backend', 'wasm'];
const train = (c: Ctx, ...more: string[]) => ['train', ...tiny(c), '--progress', 'log', ...more];
const coordinator = (c: Ctx, ...more: string[]) => ['coordinator', ...tiny(c), '--workers', '1', '--host', '127.0.0.1', ...more];

const CASES: Case[] = [
  // 1. A reused --out mixed runs.
  ...[1, 2].map(
    (workers): Case => ({
      item: 1,
      what: `fleet train --workers ${workers} into a finished run's --out`,
      args: (c) => train(c, '--workers', String(workers), '--out', c.used),
      code: 2,
      refusal: (c) => new RegExp(`^fleet: --out ${esc(c.used)} already holds a run .*pass --resume to continue it or --overwrite`),
    }),
  ),
  {
    item: 1,
    what: "fleet coordinator into a finished run's --out",
    args: (c) => coordinator(c, '--port', '0', '--out', c.used),
    code: 2,
    refusal: (c) => new RegExp(`^fleet: --out ${esc(c.used)} already holds a run`),
  },
  // 2. Resume was limited.
  {
    item: 2,
    what: '--resume where there is no checkpoint',
    args: (c) => train(c, '--resume', '--out', join(c.root, 'fresh')),
    code: 2,
    refusal: (c) => new RegExp(`^fleet: --resume: no checkpoint\\.fleet in ${esc(join(c.root, 'fresh'))}; .*--resume auto`),
  },
  {
    item: 2,
    what: 'fleet coordinator --resume where there is no checkpoint',
    args: (c) => coordinator(c, '--port', '0', '--resume', '--out', join(c.root, 'fresh')),
    code: 2,
    refusal: () => /^fleet: --resume: no checkpoint\.fleet in /,
  },
  {
    item: 2,
    what: '--resume with --epochs below the epochs already trained',
    args: (c) => train(c, '--resume', '--epochs', '1', '--out', c.used),
    code: 2,
    refusal: () => /^fleet: invalid configuration: --epochs 1: the checkpoint .* has trained 2 epochs/,
  },
  {
    item: 2,
    what: 'a finished run restarted with --resume auto (a pod) ends at once with exit 0, writing nothing',
    args: (c) => train(c, '--resume', 'auto', '--out', c.used),
    code: 0,
    output: /finished/,
  },
  // 3. --workers N ignored --download.
  {
    item: 3,
    what: 'fleet train --workers 2 --download where the data is missing downloads (here from a closed port) and leaves no folder',
    args: (c) =>
      train(
        c,
        '--workers',
        '2',
        '--download',
        '--data-dir',
        join(c.root, 'no-data'),
        '--data-url',
        `http://127.0.0.1:${c.closedPort}/cifar-10-binary.tar.gz`,
        '--out',
        join(c.root, 'dl-run'),
      ),
    code: 1,
    refusal: (c) => new RegExp(`^fleet: could not download CIFAR-10 from http://127\\.0\\.0\\.1:${c.closedPort}/`),
  },
  // 4. --workers 1 ignored --nats.
  ...[1, 2].map(
    (workers): Case => ({
      item: 4,
      what: `fleet train --workers ${workers} with an unreachable --nats`,
      args: (c) => train(c, '--workers', String(workers), '--nats', `nats://127.0.0.1:${c.closedPort}`, '--out', join(c.root, 'nats-run')),
      code: 1,
      refusal: (c) => new RegExp(`^fleet: --nats nats://127\\.0\\.0\\.1:${c.closedPort}: cannot connect`),
    }),
  ),
  // 5. Stack traces instead of the flag.
  {
    item: 5,
    what: '--out that is a file',
    args: (c) => train(c, '--out', c.file),
    code: 2,
    refusal: (c) => new RegExp(`^fleet: --out ${esc(c.file)} is a file, not a folder`),
  },
  {
    item: 5,
    what: '--out under a file',
    args: (c) => train(c, '--out', join(c.file, 'run')),
    code: 2,
    refusal: (c) => new RegExp(`^fleet: --out ${esc(join(c.file, 'run'))} is under a file`),
  },
  {
    item: 5,
    what: '--out on /proc: refused at once, no hang',
    args: (c) => train(c, '--out', '/proc/fleet-run'),
    code: 2,
    refusal: () => /^fleet: --out \/proc\/fleet-run is on a virtual file system/,
  },
  {
    item: 5,
    what: 'a port in use',
    args: (c) => coordinator(c, '--port', String(c.busyPort), '--out', join(c.root, 'c-port')),
    code: 2,
    refusal: (c) => new RegExp(`^fleet: --port ${c.busyPort}: address in use`),
  },
  {
    item: 5,
    what: 'a bad --host',
    args: (c) => coordinator(c, '--port', '0', '--host', 'no-such-host.invalid', '--out', join(c.root, 'c-host')),
    code: 2,
    refusal: () => /^fleet: --host no-such-host\.invalid: cannot be resolved/,
  },
  {
    item: 5,
    what: "a worker's malformed --coordinator, at once",
    args: () => ['worker', '--coordinator', 'coordinator-without-port'],
    code: 2,
    refusal: () => /^fleet: --coordinator "coordinator-without-port": no port; expected host:port/,
  },
  {
    item: 5,
    what: "a worker's unreachable --coordinator, after --connect-timeout",
    args: (c) => ['worker', '--coordinator', `127.0.0.1:${c.closedPort}`, '--connect-timeout', '1s', '--data-dir', c.data],
    code: 1,
    refusal: (c) => new RegExp(`^fleet: --coordinator 127\\.0\\.0\\.1:${c.closedPort} unreachable for 1s`),
  },
  {
    item: 5,
    what: "a worker's --run-id that is not the coordinator's",
    args: (c) => ['worker', '--coordinator', `127.0.0.1:${c.coordinatorPort}`, '--run-id', 'run-b', '--data-dir', c.data],
    code: 2,
    refusal: () => /^fleet: --run-id run-b: the coordinator at .* runs run-a/,
  },
  {
    item: 5,
    what: 'fleet data download --dir FILE',
    args: (c) => ['data', 'download', '--dir', c.file],
    code: 2,
    refusal: (c) => new RegExp(`^fleet: --dir ${esc(c.file)} is a file, not a folder`),
  },
  // 6. Exit codes: 2 for usage.
  {
    item: 6,
    what: 'fleet data download --bogus',
    args: () => ['data', 'download', '--bogus'],
    code: 2,
    refusal: () => /^fleet: unknown option '--bogus'/,
  },
  // 7. Half-written output.
  {
    item: 7,
    what: 'fleet train --workers 2 without its data: said before any process starts, nothing written (no nats/ store)',
    args: (c) => train(c, '--workers', '2', '--data-dir', join(c.root, 'empty-data'), '--out', join(c.root, 'no-data-run')),
    code: 1,
    refusal: (c) => new RegExp(`^fleet: CIFAR-10 data missing in ${esc(join(c.root, 'empty-data'))}: .*pass --download`),
  },
  {
    item: 7,
    what: 'an offline download leaves no empty folder',
    args: (c) => ['data', 'download', '--dir', join(c.root, 'dl', 'cifar'), '--url', `http://127.0.0.1:${c.closedPort}/c.tar.gz`],
    code: 1,
    refusal: () => /^fleet: could not download CIFAR-10 from /,
  },
  // 8. fleet watch created a stream and waited silently.
  {
    item: 8,
    what: 'fleet watch --run nosuchrun says what it waits for, gives up after --wait-timeout and creates no stream',
    args: (c) => ['watch', '--nats', c.natsUrl!, '--run', 'nosuchrun', '--wait-timeout', '2s'],
    code: 1,
    needsNats: true,
    output: /no FLEET_EVENTS stream on nats:\/\/127\.0\.0\.1:\d+ yet/,
    refusal: () => /^fleet: /,
    after: async (c) => {
      const nc = await connect({ servers: c.natsUrl! });
      try {
        const names: string[] = [];
        for await (const name of (await jetstreamManager(nc)).streams.names()) names.push(name);
        expect(names).not.toContain(STREAM_NAME);
      } finally {
        await nc.close();
      }
    },
  },
  // 9. Results a person can read.
  {
    item: 9,
    what: 'fleet show RUN_DIR: per-class accuracy and the confusion matrix with class names, read only',
    args: (c) => ['show', c.used],
    code: 0,
    output: /test accuracy \d+\.\d\d%[\s\S]*class +accuracy %\nairplane +\d+\.\d\d\n[\s\S]*truck +\d+\.\d\d\n[\s\S]*confusion/,
  },
  // 10. The smaller ones.
  {
    item: 10,
    what: '--version',
    args: () => ['--version'],
    code: 0,
    output: /^\d+\.\d+\.\d+/,
  },
  {
    item: 10,
    what: '--help: an example, and no test models',
    args: () => ['train', '--help'],
    code: 0,
    output: /Examples:[\s\S]*fleet train /,
    notOutput: /tiny/,
  },
  {
    item: 10,
    what: 'a bad --model lists the public models only',
    args: () => ['train', '--model', 'bogus'],
    code: 2,
    refusal: () => /^fleet: .*--model.*'bogus'.*Allowed choices are cnn, resnet, resnet18[a-z0-9, ]*\.$/,
    notOutput: /tiny/,
  },
];

let ctx: Ctx;
let nats: NatsServerHandle | null = null;
let blocker: Server;
let waiting: (FleetProcess & { port: number }) | null = null;
let outside: string;

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'fleet-user-study-'));
  outside = await mkdtemp(join(tmpdir(), 'fleet-user-study-coordinator-'));
  const data = join(root, 'data');
  await writeCifar10Files(data, { trainBatches: 1, perBatch: 128, testCount: 64, pattern: 'learnable', seed: 5 });
  const file = join(root, 'a-file');
  await writeFile(file, 'not a folder');
  const partial = { root, data, used: join(root, 'used'), file } as Ctx;
  const first = await runFleet(train(partial, '--epochs', '2', '--out', partial.used));
  expect(first.code, first.stderr).toBe(0);

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const busyPort = (blocker.address() as { port: number }).port;

  waiting = await startCoordinator(coordinator(partial, '--port', '0', '--run-id', 'run-a', '--out', join(outside, 'run-a')).slice(1));
  if (natsServerAvailable()) nats = await startNatsServer();
  ctx = { ...partial, closedPort, busyPort, coordinatorPort: waiting.port, natsUrl: nats?.url ?? null };
}, 120_000);

afterAll(async () => {
  if (waiting && waiting.child.exitCode === null) waiting.child.kill('SIGKILL');
  blocker?.close();
  await nats?.dispose();
  if (ctx) await rm(ctx.root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe("issue 14's user study, item by item", () => {
  it('covers all ten items', () => {
    expect([...new Set(CASES.map((c) => c.item))].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it.each(CASES.map((c) => [`${c.item}: ${c.what}`, c] as const))('%s', async (_name, c) => {
    if (c.needsNats && !ctx.natsUrl) return; // no nats-server installed: nothing to watch
    const before = await snapshotTree(ctx.root);
    const result: FleetResult = await runFleet(c.args(ctx), { timeoutMs: 60_000 });
    const output = `${result.stdout}\n${result.stderr}`;
    if (c.refusal) expectRefusal(result, c.code, c.refusal(ctx));
    else expect(result.code, output).toBe(c.code);
    if (c.output) expect(output).toMatch(c.output);
    if (c.notOutput) expect(output).not.toMatch(c.notOutput);
    expect(await snapshotTree(ctx.root), 'the file system after the command').toEqual(before);
    await c.after?.(ctx);
  });
});
