import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNatsServer } from '../../services/launcher/nats-server-process.js';
import { setLabelByte, writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, type FleetProcess } from '../helpers/fleet-processes.js';
import { runFleet } from '../helpers/run-fleet.js';
import { expectRefusal, snapshotTree } from '../helpers/refusal.js';

// The run directory is never mixed, overwritten by accident or left half-written, and every refusal is one
// `fleet:` line naming the flag (exit 2), with no stack trace and nothing changed on disk.

let root: string;
let dataDir: string;
const started: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-run-dir-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 128, testCount: 64, pattern: 'learnable', seed: 3 });
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

const training = ['--model', 'tiny', '--epochs', '1', '--batch-size', '32', '--data-dir', '', '--allow-partial', '--backend', 'wasm'];
const trainArgs = (out: string, ...more: string[]) => [
  'train',
  ...training.map((a) => (a === '' ? dataDir : a)),
  '--progress',
  'log',
  '--out',
  out,
  ...more,
];
const coordinatorArgs = (out: string, ...more: string[]) => [
  'coordinator',
  ...training.map((a) => (a === '' ? dataDir : a)),
  '--workers',
  '1',
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  '--out',
  out,
  ...more,
];

const snapshot = (dir: string) => snapshotTree(root, dir);

async function metricsEpochs(out: string): Promise<number[]> {
  const text = await readFile(join(out, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { epoch: number }).epoch);
}

/** A port nothing listens on (bound, closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('a run directory already used', () => {
  const out = () => join(root, 'used');

  it('is refused by fleet train (one process and --workers 2) and fleet coordinator, changing nothing; --overwrite replaces the run', async () => {
    const first = await runFleet(trainArgs(out()));
    expect(first.code, first.stderr).toBe(0);
    await writeFile(join(out(), 'notes.txt'), 'my notes');
    const before = await snapshot(root);

    const held = (dir: string) =>
      new RegExp(
        `^fleet: --out ${dir} already holds a run \\(config\\.json, metrics\\.jsonl.*\\): pass --resume to continue it or --overwrite to replace it, or choose another --out$`,
      );
    const [oneProcess, twoWorkers, coordinator] = await Promise.all([
      runFleet(trainArgs(out())),
      runFleet(trainArgs(out(), '--workers', '2')),
      runFleet(coordinatorArgs(out())),
    ]);
    for (const r of [oneProcess, twoWorkers, coordinator]) expectRefusal(r, 2, held(out()));
    expect(await snapshot(root)).toEqual(before);

    // --overwrite: fleet's files replaced (one epoch-1 line, not two), the user's file kept.
    const again = await runFleet(trainArgs(out(), '--overwrite'));
    expect(again.code, again.stderr).toBe(0);
    expect(await metricsEpochs(out())).toEqual([1]);
    expect(await readFile(join(out(), 'notes.txt'), 'utf8')).toBe('my notes');
    const removed = again.stdout.split('\n').find((l) => l.includes('--overwrite: the earlier run in --out removed'));
    expect(JSON.parse(removed!).removed).toEqual(expect.arrayContaining(['config.json', 'metrics.jsonl', 'best']));
  });

  it('a folder of other files is refused too, naming them', async () => {
    const mine = join(root, 'mine');
    await mkdir(mine);
    await writeFile(join(mine, 'thesis.tex'), 'x');
    const before = await snapshot(root);
    expectRefusal(await runFleet(trainArgs(mine)), 2, /^fleet: --out .*mine is not empty \(thesis\.tex\): .*--overwrite/);
    expect(await snapshot(root)).toEqual(before);
  });
});

describe('an --out that cannot be a run directory', () => {
  it('a file, a path under a file, /proc: refused at once (no hang), before the data is loaded', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    const before = await snapshot(root);
    const [isFile, underFile, proc, coordinator] = await Promise.all([
      runFleet(trainArgs(file)),
      runFleet(trainArgs(join(file, 'run'))),
      runFleet(trainArgs('/proc/fleet-run'), { timeoutMs: 30_000 }),
      runFleet(coordinatorArgs(join(file, 'run'))),
    ]);
    expectRefusal(isFile, 2, `--out ${file} is a file, not a folder: choose another --out`);
    expectRefusal(underFile, 2, `--out ${join(file, 'run')} is under a file (${file}): choose another --out`);
    expectRefusal(proc, 2, /^fleet: --out \/proc\/fleet-run is on a virtual file system \(proc\)/);
    expectRefusal(coordinator, 2, `--out ${join(file, 'run')} is under a file (${file}): choose another --out`);
    // Refused before the data was loaded.
    for (const r of [isFile, underFile, proc, coordinator]) expect(r.stdout).not.toContain('data loaded');
    expect(await snapshot(root)).toEqual(before);
  });
});

describe('the coordinator binds its port before it writes anything', () => {
  let blocker: Server;
  afterAll(() => blocker?.close());

  it('a port in use and a bad --host are refused naming the flag, with no run directory', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    const before = await snapshot(root);
    const [inUse, unresolvable, foreign] = await Promise.all([
      runFleet([...coordinatorArgs(join(root, 'c-port')), '--port', String(port)]),
      runFleet([...coordinatorArgs(join(root, 'c-host')), '--host', 'no-such-host.invalid']),
      // TEST-NET-1: an address of no machine here (a bind attempt sends nothing).
      runFleet([...coordinatorArgs(join(root, 'c-foreign')), '--host', '192.0.2.1']),
    ]);
    expectRefusal(inUse, 2, `--port ${port}: address in use on 127.0.0.1 (another coordinator?); choose another --port or 0`);
    expectRefusal(unresolvable, 2, /^fleet: --host no-such-host\.invalid: cannot be resolved/);
    expectRefusal(foreign, 2, /^fleet: --host 192\.0\.2\.1: not an address of this machine/);
    expect(await snapshot(root)).toEqual(before);
  });
});

describe('fleet worker and its --coordinator', () => {
  it('a malformed address is refused at once (exit 2); an unreachable one after --connect-timeout, logging each retry', async () => {
    const port = await closedPort();
    const startedAt = Date.now();
    const [noPort, badPort, garbage, unreachable] = await Promise.all([
      runFleet(['worker', '--coordinator', 'localhost']),
      runFleet(['worker', '--coordinator', 'localhost:99999']),
      runFleet(['worker', '--coordinator', '::garbage::'], { env: { FLEET_CONNECT_TIMEOUT: '300' } }),
      runFleet(['worker', '--coordinator', `127.0.0.1:${port}`, '--connect-timeout', '2s']),
    ]);
    expectRefusal(noPort, 2, /^fleet: --coordinator "localhost": no port; expected host:port/);
    expectRefusal(badPort, 2, /^fleet: --coordinator "localhost:99999": port "99999" is not a number from 1 to 65535/);
    expectRefusal(garbage, 2, /^fleet: --coordinator "::garbage::": not a host and port/);
    expectRefusal(
      unreachable,
      1,
      new RegExp(
        `^fleet: --coordinator 127\\.0\\.0\\.1:${port} unreachable for 2s \\(UNAVAILABLE: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`,
      ),
    );
    // Not five minutes: the malformed ones at once, the unreachable one after its 2 s.
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    const retries = unreachable.stdout
      .split('\n')
      .filter((l) => l.includes('coordinator unavailable: retrying'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(retries.length).toBeGreaterThan(0);
    for (const r of retries) expect(r).toMatchObject({ what: 'register', target: `127.0.0.1:${port}`, attempt: expect.any(Number) });
    expect(retries.every((r) => typeof r.leftMs === 'number' && r.leftMs <= 2000)).toBe(true);
  });

  it("a worker's --run-id that is not the coordinator's run is refused naming both", async () => {
    const coordinator = await startCoordinator(coordinatorArgs(join(root, 'run-a'), '--run-id', 'run-a').slice(1));
    started.push(coordinator);
    const worker = await runFleet(['worker', '--coordinator', `127.0.0.1:${coordinator.port}`, '--run-id', 'run-b']);
    expectRefusal(
      worker,
      2,
      `--run-id run-b: the coordinator at 127.0.0.1:${coordinator.port} runs run-a; start the worker with --run-id run-a, or point --coordinator at the coordinator of run-b`,
    );
    coordinator.child.kill('SIGTERM');
    await coordinator.exited;
  });
});

describe('half-written output', () => {
  it('a failed --workers 2 run leaves no nats/ store (nor anything else) in --out', async () => {
    const out = join(root, 'failed-two');
    // A label byte out of range: the files pass the launcher's check (names, sizes) and the coordinator fails
    // reading them, after the launcher started its nats-server (when installed).
    const corrupt = join(root, 'corrupt-data');
    await writeCifar10Files(corrupt, { trainBatches: 1, perBatch: 128, testCount: 64, pattern: 'learnable', seed: 3 });
    await setLabelByte(join(corrupt, 'data_batch_1.bin'), 5, 200);
    const result = await runFleet(trainArgs(out, '--workers', '2', '--data-dir', corrupt));
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    if (findNatsServer()) expect(result.stdout).toContain('started nats-server for this run');
    await expect(stat(join(out, 'nats'))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(out, 'config.json'))).rejects.toThrow(/ENOENT/);
  });

  it('fleet data download: --dir a file is bad usage; offline, it leaves no empty folder; --bogus is exit 2', async () => {
    const file = join(root, 'data-file');
    await writeFile(file, 'x');
    const target = join(root, 'dl', 'cifar');
    const before = await snapshot(root);
    const [dirIsFile, offline, bogus] = await Promise.all([
      runFleet(['data', 'download', '--dir', file]),
      runFleet(['data', 'download', '--dir', target, '--url', `http://127.0.0.1:${await closedPort()}/cifar-10-binary.tar.gz`]),
      runFleet(['data', 'download', '--bogus']),
    ]);
    expectRefusal(dirIsFile, 2, `--dir ${file} is a file, not a folder: choose another --dir`);
    expectRefusal(offline, 1, /^fleet: could not download CIFAR-10 from .* \(connect\)/);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("unknown option '--bogus'");
    await expect(stat(join(root, 'dl'))).rejects.toThrow(/ENOENT/);
    // The same tree; only the mtime of the folder in which dl/ was made and removed again moved.
    expect({ ...(await snapshot(root)), '.': before['.'] }).toEqual(before);
  });
});

describe('errors fleet did not foresee', () => {
  it('are one line without a stack trace, unless LOG_LEVEL=debug', async () => {
    const file = join(root, 'not-a-run');
    await writeFile(file, 'x');
    const [plain, debug] = await Promise.all([runFleet(['show', file]), runFleet(['show', file], { env: { LOG_LEVEL: 'debug' } })]);
    expectRefusal(plain, 1, /^fleet: unexpected error: ENOTDIR.* \(run with LOG_LEVEL=debug for the stack\)$/);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^fleet: unexpected error: .*ENOTDIR/m);
    expect(debug.stderr).toMatch(/^\s+at /m);
  });
});
