import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCifar10Split } from '../../src/dataset/index.js';
import { loadModelFiles } from '../../src/model/index.js';
import { createParameterSource } from '../../services/evaluator/client/parameter-source.js';
import { status } from '@grpc/grpc-js';
import type { AnyFleetEvent } from '../../src/events/index.js';
import { evaluate } from '../../src/training/evaluate.js';
import { testBatches } from '../../src/training/train-batch.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { expectOrderedPerSource, readRunEvents } from '../helpers/run-events.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 4's acceptance with real processes: a coordinator, two workers and
 * the evaluator service talking over gRPC, events on a nats-server started
 * here (never the shared one).
 */
let root: string;
let dataDir: string;
const started: FleetProcess[] = [];
const servers: NatsServerHandle[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-events-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 512, testCount: 150, pattern: 'learnable', seed: 5 });
  await tf.setBackend('cpu');
});

afterAll(async () => {
  if (process.env.FLEET_TEST_DUMP) {
    const { writeFileSync } = await import('node:fs');
    for (const [i, p] of started.entries()) {
      writeFileSync(
        join(process.env.FLEET_TEST_DUMP!, `proc-${i}.log`),
        `${p.child.spawnargs.slice(2, 4).join(' ')}\n${p.lines.join('\n')}`,
      );
    }
  }
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const s of servers) await s.dispose();
  await rm(root, { recursive: true, force: true });
});

function track<T extends FleetProcess>(p: T): T {
  started.push(p);
  return p;
}

async function nats(): Promise<NatsServerHandle> {
  const s = await startNatsServer();
  servers.push(s);
  return s;
}

/** A coordinator (external evaluator, a checkpoint every 2 rounds), two workers and the evaluator. */
async function startRun(name: string, natsUrl: string, extra: string[] = []) {
  const out = join(root, name);
  const coordinator = track(
    await startCoordinator([
      '--run-id',
      name,
      '--out',
      out,
      '--nats',
      natsUrl,
      '--external-evaluator',
      '--evaluator-wait',
      '120',
      '--model',
      'tiny',
      '--lr',
      '0.02',
      '--warmup-epochs',
      '0',
      '--data-dir',
      dataDir,
      '--allow-partial',
      '--backend',
      'wasm',
      '--epochs',
      '3',
      '--workers',
      '2',
      '--batch-size',
      '16',
      '--checkpoint-every',
      '2',
      '--metrics-port',
      '0',
      '--metrics-host',
      '127.0.0.1',
      ...extra,
    ]),
  );
  const workers = [0, 1].map((i) =>
    track(
      startFleet([
        'worker',
        '--coordinator',
        `127.0.0.1:${coordinator.port}`,
        '--name',
        `${name}-w${i}`,
        '--metrics-port',
        '0',
        '--metrics-host',
        '127.0.0.1',
      ]),
    ),
  );
  const evaluator = () =>
    track(
      startFleet([
        'evaluator',
        '--coordinator',
        `127.0.0.1:${coordinator.port}`,
        '--run',
        name,
        '--nats',
        natsUrl,
        // Every checkpoint, periodic ones too: these tests are about each one scored exactly once.
        '--score-checkpoints',
        'every',
        '--metrics-port',
        '0',
        '--metrics-host',
        '127.0.0.1',
      ]),
    );
  return { out, coordinator, workers, evaluator };
}

const versionsWritten = (coordinator: FleetProcess) =>
  coordinator.lines.filter((l) => l.includes('"msg":"checkpoint written"')).map((l) => Number(/"version":(\d+)/.exec(l)![1]));

/** How many events an evaluator published again: an eval, and a best when it was one, per version it found already evaluated. */
const republishedBy = (p: FleetProcess) => 2 * p.lines.filter((l) => l.includes('"msg":"checkpoint already evaluated')).length;

describe.skipIf(!natsServerAvailable())('events and the evaluator service (real nats-server, real processes)', () => {
  it('events arrive in order and validate; the evaluator killed with kill -9 and restarted evaluates every checkpoint exactly once; the best model reloads and scores its meta.json accuracy', async () => {
    const server = await nats();
    // Every version stays fetchable: this test is about exactly-once, not about skipping.
    const run = await startRun('evalkill', server.url, ['--keep-versions', '100']);
    const first = run.evaluator();
    await first.waitFor(/"msg":"checkpoint evaluated"/, 120_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = run.evaluator();
    const exits = await Promise.all([run.coordinator.exited, ...run.workers.map((w) => w.exited), second.exited]);
    expect(
      exits.map((e) => e.code),
      run.coordinator.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0, 0]);

    const { events, malformed } = await readRunEvents(server.url, 'evalkill');
    expect(malformed).toEqual([]);
    expectOrderedPerSource(events, republishedBy(second));
    const types = new Set(events.map((e) => e.type));
    for (const t of ['run.started', 'worker.joined', 'worker.progress', 'round', 'epoch', 'checkpoint', 'eval', 'best', 'run.finished'])
      expect(types, t).toContain(t);
    // Rounds and checkpoints in order of version; every checkpoint the coordinator wrote is announced once.
    const rounds = events.filter((e) => e.type === 'round').map((e) => (e.data as { version: number }).version);
    expect(rounds).toEqual([...rounds].sort((a, b) => a - b));
    const checkpoints = events.filter((e) => e.type === 'checkpoint').map((e) => (e.data as { version: number }).version);
    expect(checkpoints).toEqual(versionsWritten(run.coordinator));
    // Each version evaluated exactly once, by either evaluator process, none skipped.
    const evals = events.filter((e) => e.type === 'eval').map((e) => (e.data as { version: number }).version);
    expect([...evals].sort((a, b) => a - b)).toEqual([...checkpoints].sort((a, b) => a - b));
    // ...and scored once: the two processes' completed evaluations together cover each version once.
    const scoredVersions = [first, second].flatMap((p) =>
      p.lines.filter((l) => l.includes('"msg":"checkpoint evaluated"')).map((l) => Number(/"version":(\d+)/.exec(l)![1])),
    );
    expect(first.lines.some((l) => l.includes('"msg":"checkpoint evaluated"'))).toBe(true);
    expect(scoredVersions.sort((a, b) => a - b)).toEqual([...checkpoints].sort((a, b) => a - b));

    // The run directory of a 1-worker run: a metrics line per epoch with its test accuracy.
    const lines = (await readFile(join(run.out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.map((l) => l.epoch)).toEqual([1, 2, 3]);
    expect(lines.every((l) => Number.isFinite(l.testAccuracy) && l.trainSamples === 512)).toBe(true);
    // Acceptance 2: tf.loadLayersModel on best/, scored on the same test set, gives meta.json's accuracy.
    const meta = JSON.parse(await readFile(join(run.out, 'best', 'meta.json'), 'utf8')) as { accuracy: number; version: number };
    // loadModelFiles is tf.loadLayersModel with an IOHandler reading the files (pure tfjs has no file:// loader).
    const model = await loadModelFiles(join(run.out, 'best'));
    const test = await loadCifar10Split({ dir: dataDir, split: 'test', allowPartial: true });
    const scored = await evaluate(model, test, testBatches(test), { batchSize: 64, numClasses: 10 });
    expect(scored.count).toBe(150);
    expect(scored.accuracy).toBeCloseTo(meta.accuracy, 10);
    expect(Math.max(...lines.map((l) => l.testAccuracy ?? 0))).toBeCloseTo(meta.accuracy, 10);
  }, 240_000);

  it('nats-server stopped and restarted during a run: no checkpoint or eval event is lost and the run finishes', async () => {
    const server = await nats();
    // Versions stay fetchable while the evaluator waits for NATS (skipping is for evaluators far behind).
    const run = await startRun('natsrestart', server.url, ['--epochs', '4', '--keep-versions', '100']);
    const evaluator = run.evaluator();
    await evaluator.waitFor(/"msg":"checkpoint evaluated"/, 120_000);
    await server.stop();
    // Rounds go on without NATS: wait for two more checkpoints to be written while it is down.
    const before = versionsWritten(run.coordinator).length;
    await run.coordinator.waitFor(/"msg":"round closed"/, 60_000);
    await until(
      'two more checkpoints written while NATS is down',
      () => versionsWritten(run.coordinator).length >= before + 2 || run.coordinator.child.exitCode !== null,
      120_000,
      100,
    );
    await server.restart();
    const exits = await Promise.all([run.coordinator.exited, ...run.workers.map((w) => w.exited), evaluator.exited]);
    expect(
      exits.map((e) => e.code),
      run.coordinator.lines.slice(-8).join('\n'),
    ).toEqual([0, 0, 0, 0]);

    const { events, malformed } = await readRunEvents(server.url, 'natsrestart');
    expect(malformed).toEqual([]);
    expectOrderedPerSource(events);
    const checkpoints = events.filter((e) => e.type === 'checkpoint').map((e) => (e.data as { version: number }).version);
    expect(checkpoints).toEqual(versionsWritten(run.coordinator));
    const evals = events.filter((e) => e.type === 'eval').map((e) => (e.data as { version: number }).version);
    expect([...evals].sort((a, b) => a - b)).toEqual(checkpoints);
  }, 240_000);

  it('fleet watch follows a live two-worker run (text and --json), and every service serves its metrics during the run', async () => {
    const server = await nats();
    const run = await startRun('watched', server.url);
    const evaluator = run.evaluator();
    const watch = track(startFleet(['watch', '--run', 'watched', '--nats', server.url]));
    const json = track(startFleet(['watch', '--run', 'watched', '--nats', server.url, '--json']));

    // Metrics while the run goes on: each service logs its endpoint; curl it.
    const urlOf = async (p: FleetProcess) => JSON.parse(await p.waitFor(/"msg":"metrics"/, 120_000)).url as string;
    const scrape = (url: string) => {
      const curl = spawnSync('curl', ['-sf', url], { encoding: 'utf8' });
      if (curl.error) throw curl.error;
      expect(curl.status, url).toBe(0);
      return curl.stdout;
    };
    // The evaluator's reads: the run described; a version not kept is refused at once (not at the deadline).
    const source = createParameterSource(`127.0.0.1:${run.coordinator.port}`, { callTimeoutMs: 5000, transferTimeoutMs: 60_000 });
    try {
      expect((await source.describe()).runId).toBe('watched');
      const refused = await source.fetch(999_999, []).then(
        () => null,
        (err: { code?: number; message: string }) => err,
      );
      expect(refused?.code).toBe(status.FAILED_PRECONDITION);
      expect(refused?.message).toMatch(/version 999999 is not available/);
    } finally {
      source.close();
    }
    const coordinatorUrl = await urlOf(run.coordinator);
    await run.coordinator.waitFor(/"msg":"round closed"/, 120_000);
    expect(scrape(coordinatorUrl)).toMatch(/fleet_rounds_total\{service="coordinator",run="watched"\} [1-9]/);
    expect(scrape(coordinatorUrl)).toMatch(/fleet_members\{service="coordinator",run="watched"\} 2/);
    expect(scrape(await urlOf(run.workers[0]!))).toMatch(
      /fleet_worker_rounds_total\{service="worker",run="watched",worker="watched-w0"\} [1-9]/,
    );
    const evaluatorUrl = await urlOf(evaluator);
    await evaluator.waitFor(/"msg":"checkpoint evaluated"/, 120_000);
    expect(scrape(evaluatorUrl)).toMatch(/fleet_evaluations_total\{service="evaluator",run="watched"\} [1-9]/);

    const exits = await Promise.all([
      run.coordinator.exited,
      ...run.workers.map((w) => w.exited),
      evaluator.exited,
      watch.exited,
      json.exited,
    ]);
    expect(
      exits.map((e) => e.code),
      watch.lines.slice(-10).join('\n'),
    ).toEqual([0, 0, 0, 0, 0, 0]);
    const view = watch.lines.join('\n');
    expect(view).toMatch(/w000001-[0-9a-f]{6}/);
    // Without a terminal: one logfmt line per event, the run's end among them.
    expect(view).toMatch(/type=round round=\d+ epoch=\d+/);
    expect(view).toMatch(/type=run\.finished status=finished/);
    const parsed = json.lines.filter((l) => l.trim().startsWith('{"type"')).map((l) => JSON.parse(l) as AnyFleetEvent);
    expect(parsed.map((e) => e.type)).toContain('round');
    expect(parsed.map((e) => e.type)).toContain('eval');
    expect(parsed.at(-1)!.type).toBe('run.finished');
  }, 240_000);
});
