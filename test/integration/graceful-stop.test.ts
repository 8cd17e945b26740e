import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNatsBus, type AnyFleetEvent } from '../../src/events/index.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { runFleet } from '../helpers/run-fleet.js';

/**
 * A cluster's pods stopped and restarted, with separate
 * coordinator, worker and evaluator processes and a real nats-server:
 * SIGTERM on the coordinator mid-run stops it gracefully (exit 0, a
 * checkpoint, run.finished 'stopped'), a coordinator restarted with
 * --resume auto completes the run with the same workers and evaluator, and
 * every process started again after the end exits 0 at once, changing nothing.
 */
const RUN = 'stop-resume';
let root: string;
let dataDir: string;
let nats: NatsServerHandle | null = null;
const started: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-stop-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 960, testCount: 100, pattern: 'learnable', seed: 5 });
  if (natsServerAvailable()) nats = await startNatsServer();
});

afterAll(async () => {
  if (process.env.FLEET_TEST_DUMP) {
    const { writeFileSync } = await import('node:fs');
    for (const [i, p] of started.entries())
      writeFileSync(join(process.env.FLEET_TEST_DUMP, `stop-${i}.log`), `${p.child.spawnargs.slice(2).join(' ')}\n${p.lines.join('\n')}`);
  }
  for (const p of started) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    }
  }
  await nats?.dispose();
  await rm(root, { recursive: true, force: true });
});

const out = () => join(root, 'run');
const runArgs = () => [
  '--run-id',
  RUN,
  '--model',
  'tiny-bn',
  '--epochs',
  '2',
  '--workers',
  '2',
  '--batch-size',
  '16',
  '--lr',
  '0.02',
  '--data-dir',
  dataDir,
  '--allow-partial',
  '--backend',
  'wasm',
  '--seed',
  '3',
  '--out',
  out(),
  // Epoch ends only: the stop's checkpoint is always a new one.
  '--checkpoint-every',
  '0',
  '--nats',
  nats!.url,
  '--external-evaluator',
  '--evaluator-wait',
  '60',
  '--resume',
  'auto',
];

function track<T extends FleetProcess>(p: T): T {
  started.push(p);
  return p;
}

const coordinatorAt = (port: number, extra: string[] = []) =>
  track(startFleet(['coordinator', '--host', '127.0.0.1', '--port', String(port), ...runArgs(), ...extra]));
const worker = (port: number, name: string) =>
  track(startFleet(['worker', '--coordinator', `127.0.0.1:${port}`, '--name', name, '--connect-timeout', '90']));
const evaluator = (port: number) =>
  track(
    startFleet([
      'evaluator',
      '--coordinator',
      `127.0.0.1:${port}`,
      '--nats',
      nats!.url,
      '--run',
      RUN,
      '--connect-timeout',
      '90',
      // The stop checkpoint is not an epoch end: every checkpoint is scored here.
      '--score-checkpoints',
      'every',
    ]),
  );

const json = (line: string) => JSON.parse(line) as Record<string, unknown>;

/** The run's run.finished events from the start of the stream: once `count` arrived, or what there is after `waitMs`. */
async function runEnds(count: number, waitMs: number): Promise<AnyFleetEvent[]> {
  const bus = await connectNatsBus({ servers: nats!.url, name: 'test-reader', log: pino({ level: 'silent' }) });
  const ends: AnyFleetEvent[] = [];
  try {
    let done!: () => void;
    const enough = new Promise<void>((resolve) => {
      done = resolve;
    });
    const sub = await bus.follow(
      RUN,
      (e) => {
        if (e.type !== 'run.finished') return;
        ends.push(e);
        if (ends.length >= count) done();
      },
      { from: 'start' },
    );
    const timer = setTimeout(done, waitMs);
    await enough;
    clearTimeout(timer);
    await sub.stop();
  } finally {
    await bus.close();
  }
  return ends;
}

/** Name, size and modification time of every file under `dir`. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const s = await stat(path);
    files[path.slice(dir.length + 1)] = `${s.size} ${s.mtimeMs}`;
  }
  return files;
}

describe.skipIf(!natsServerAvailable())('graceful stop and restart of a distributed run (real processes, real nats-server)', () => {
  it('SIGTERM: the coordinator abandons the stalled round at --drain-timeout, checkpoints, publishes stopped and exits 0; restarted with --resume auto it completes the run; after the end every process exits 0 at once and nothing changes', async () => {
    // 1. The run starts; the coordinator's port is kept for its restarts (the workers' and evaluator's address).
    const first = track(await startCoordinator([...runArgs(), '--drain-timeout', '2s']));
    const port = first.port;
    const workers = [worker(port, 'w0'), worker(port, 'w1')];
    const firstScorer = evaluator(port);

    // 2. Mid-epoch 1, one worker freezes (SIGSTOP): the next round waits for it. Then the pod is stopped.
    await first.waitFor(/"round":(8|9|1\d),.*"msg":"round closed"/, 120_000);
    workers[1]!.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    first.child.kill('SIGTERM');
    const firstExit = await first.exited;
    workers[1]!.child.kill('SIGCONT');
    expect(firstExit.code, first.lines.slice(-8).join('\n')).toBe(0);
    expect(first.lines.some((l) => l.includes('"msg":"round abandoned at the drain timeout'))).toBe(true);
    const stopCheckpoint = json(first.lines.find((l) => /"reason":"stop","msg":"checkpoint written"/.test(l))!);
    expect(json(first.lines.find((l) => l.includes('"msg":"drained"'))!)).toMatchObject({ drained: 'abandoned', checkpoint: 'written' });
    expect(first.lines.some((l) => l.includes('"msg":"run stopped: a coordinator started with --resume auto continues it"'))).toBe(true);

    // The stop is in the events as 'stopped', not 'failed'; workers and evaluator are still there, waiting.
    const stopped = (await runEnds(1, 30_000)).map((e) => e.data);
    expect(stopped).toEqual([{ status: 'stopped', version: stopCheckpoint.version, epochs: 2, reason: 'signal SIGTERM' }]);
    for (const p of [...workers, firstScorer]) expect(p.child.exitCode, p.lines.slice(-3).join('\n')).toBeNull();

    // The evaluator, stopped while it retries the stop checkpoint's version: exit 0 at once, the version neither
    // scored nor skipped; a new evaluator gets its event again and scores it from the restarted coordinator.
    await firstScorer.waitFor(
      new RegExp(`"what":"fetch version ${stopCheckpoint.version}".*"msg":"coordinator unavailable: retrying"`),
      60_000,
    );
    firstScorer.child.kill('SIGTERM');
    expect((await firstScorer.exited).code, firstScorer.lines.slice(-3).join('\n')).toBe(0);
    expect(firstScorer.lines.some((l) => l.includes('can no longer be fetched'))).toBe(false);
    const scorer = evaluator(port);

    // 3. The restarted coordinator resumes from the stop's checkpoint and completes the run with the same processes.
    const second = coordinatorAt(port, ['--linger', '60s']);
    const resumed = json(await second.waitFor(/"msg":"resumed from checkpoint"/, 60_000));
    expect(resumed).toMatchObject({ version: stopCheckpoint.version, round: stopCheckpoint.round });
    await second.waitFor(/"msg":"run finished"/, 180_000);
    // Scored by the new evaluator, maybe after the run finished (the coordinator lingers and keeps that version).
    await scorer.waitFor(new RegExp(`"version":${stopCheckpoint.version},.*"msg":"checkpoint evaluated"`), 60_000);
    const exits = await Promise.all([...workers, scorer].map((p) => p.exited));
    expect(
      exits.map((e) => e.code),
      [...workers, scorer].map((p) => p.lines.slice(-2).join('\n')).join('\n'),
    ).toEqual([0, 0, 0]);
    for (const w of workers) {
      expect(json(w.lines.find((l) => l.includes('"msg":"worker done"'))!)).toMatchObject({ outcome: 'run finished' });
      // They rode out the stop: retried, then registered with the new coordinator.
      expect(w.lines.some((l) => l.includes('coordinator unavailable: retrying') || l.includes('registered again'))).toBe(true);
    }

    // While it lingers: the run is over for fleet.v1.Coordinator, the server still answers; a late worker exits 0 saying the run is finished.
    const overall = await runFleet(['health', `127.0.0.1:${port}`]);
    expect(overall.code, overall.stderr).toBe(0);
    const runHealth = await runFleet(['health', `127.0.0.1:${port}`, '--service', 'fleet.v1.Coordinator']);
    expect(runHealth.code).toBe(1);
    expect(runHealth.stderr.trim()).toBe(`fleet: health of 127.0.0.1:${port} (service fleet.v1.Coordinator): NOT_SERVING`);
    const late = worker(port, 'late');
    expect((await late.exited).code, late.lines.slice(-3).join('\n')).toBe(0);
    expect(json(late.lines.find((l) => l.includes('"msg":"worker done"'))!)).toMatchObject({ rounds: 0, outcome: 'run finished' });
    // A stop signal ends the linger: still exit 0, and the run stays finished.
    second.child.kill('SIGTERM');
    expect((await second.exited).code, second.lines.slice(-5).join('\n')).toBe(0);

    // Each sample once per epoch: the abandoned round's contribution was dropped and its batches trained after the resume.
    const metrics = (await readFile(join(out(), 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; trainSamples: number });
    expect(metrics.map((m) => [m.epoch, m.trainSamples])).toEqual([
      [1, 960],
      [2, 960],
    ]);
    const ends = (await runEnds(2, 30_000)).map((e) => (e.data as { status: string }).status);
    expect(ends).toEqual(['stopped', 'finished']);

    // 4. Started again after the end (a Job's pod restarted, a rollout): exit 0 at once, saying so, and nothing in the run directory changes.
    const before = await snapshot(out());
    expect(Object.keys(before)).toContain('checkpoint.fleet');
    const third = coordinatorAt(port);
    expect((await third.exited).code, third.lines.join('\n')).toBe(0);
    expect(third.lines.filter((l) => l.startsWith('{')).map((l) => json(l).msg)).toEqual(['run already finished: nothing to resume']);
    const again = evaluator(port);
    expect((await again.exited).code, again.lines.slice(-3).join('\n')).toBe(0);
    expect(again.lines.some((l) => l.includes('"msg":"run already finished: nothing to evaluate"'))).toBe(true);
    expect(await snapshot(out())).toEqual(before);
    // Nothing published either: still one stopped and one finished.
    expect(await runEnds(3, 3000)).toHaveLength(2);
    // About a minute on an idle 2-core machine (eight node processes start); room for a loaded one.
  }, 300_000);
});
