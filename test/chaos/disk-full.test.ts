/**
 * Chaos: the disk fills up. A small tmpfs mounted for the test is the run's
 * --out (or the evaluator's, or the nats-server's JetStream store); the test
 * fills it with a filler file at a chosen point and frees it later. What
 * must hold: the previous checkpoint, metrics.jsonl, best/ and the
 * evaluator's state stay whole and parseable (no temp file left), every
 * refused write is logged and published (run.write_failed), training goes
 * on, and stops cleanly (exit 1 naming the file and the errno, the last
 * checkpoint resumable) when checkpoints keep failing.
 *
 * Mounting needs root (CI runs as root): elsewhere the tests are skipped
 * with the reason printed. EIO is not made here: it needs a dm-error device
 * or a FUSE filesystem, neither of which this machine offers; the code treats
 * EIO, EDQUOT and EROFS as ENOSPC (src/runtime/disk-writes.ts).
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNatsBus, type AnyFleetEvent, type EventBus } from '../../src/events/index.js';
import { isAtomicTempName } from '../../src/runtime/atomic-file.js';
import { MAX_CONSECUTIVE_CHECKPOINT_FAILURES } from '../../src/runtime/disk-writes.js';
import { coordinatorMetrics } from '../../src/runtime/metrics/index.js';
import { samplePayloads } from '../fixtures/event-samples.js';
import { samplesOf } from '../helpers/prometheus-text.js';
import { readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../services/coordinator/coordinator-run.js';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { captureLog } from '../helpers/capture-log.js';
import { startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { mountSmallTmpfs, type SmallTmpfs } from '../helpers/small-tmpfs.js';
import { until } from '../helpers/wait.js';

const probe = await mountSmallTmpfs('disk-full-probe', 64);
const skip = 'skip' in probe ? probe.skip : !natsServerAvailable() ? 'nats-server is not installed' : null;
if ('skip' in probe) console.log(`disk-full chaos tests skipped: ${probe.skip}`);
else await probe.unmount();

/**
 * The coordinators' environment: the contribution check off, as it judges gradients and these
 * scenarios are about files (on a tiny run it refused an honest worker when this was written); ignored where unknown.
 */
const COORDINATOR_ENV = { FLEET_CONTRIBUTION_CHECK: 'off' };

let cluster: ChaosCluster;
const mounts: SmallTmpfs[] = [];
const servers: NatsServerHandle[] = [];
const buses: EventBus[] = [];

beforeAll(async () => {
  if (!skip) cluster = await ChaosCluster.create('disk-full');
});

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => {});
  await cluster?.dispose();
  for (const s of servers) await s.dispose();
  for (const m of mounts) await m.unmount();
});

async function tmpfs(name: string, sizeKiB: number): Promise<SmallTmpfs> {
  const m = await mountSmallTmpfs(name, sizeKiB);
  if ('skip' in m) throw new Error(m.skip);
  mounts.push(m);
  return m;
}

async function nats(storeDir?: string): Promise<NatsServerHandle> {
  const s = await startNatsServer(storeDir ? { storeDir } : {});
  servers.push(s);
  return s;
}

/** Every event of `run` in the stream so far, once `done` says they are all there. */
async function eventsOf(url: string, run: string, done: (events: AnyFleetEvent[]) => boolean): Promise<AnyFleetEvent[]> {
  const bus = await connectNatsBus({ servers: url, name: 'disk-full-test', log: captureLog().log });
  buses.push(bus);
  const events: AnyFleetEvent[] = [];
  const sub = await bus.follow(run, (e) => events.push(e), { from: 'start' });
  await until(`events of ${run}`, () => done(events), 15_000, 50);
  await sub.stop();
  return events;
}

/** The names under `dir` (recursively) that are writeFileAtomic's or replaceDirectoryAtomic's leftovers. */
async function tempsUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (isAtomicTempName(entry.name) || entry.name.endsWith('.previous')) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

/** Every line of metrics.jsonl parses: its epochs. */
async function metricsEpochs(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { epoch: number }).epoch);
}

describe.skipIf(skip !== null)('chaos: a disk that fills up (tmpfs, real processes)', () => {
  it(`the coordinator's --out fills up: checkpoints fail (logged, published), training goes on, after ${MAX_CONSECUTIVE_CHECKPOINT_FAILURES} in a row it stops with exit 1 naming the file and ENOSPC; the last checkpoint is whole and --resume finishes the run once space is freed`, async () => {
    const server = await nats();
    const disk = await tmpfs('disk-full-coordinator', 2048);
    const samples = 256;
    const epochs = 3;
    const c = await cluster.coordinator('full-out', {
      workers: 1,
      epochs,
      limitTrain: samples,
      checkpointEvery: 2,
      // The failed coordinator closes its server at once (calls in flight: the worker's, which retries).
      extra: ['--out', disk.dir, '--nats', server.url, '--shutdown-grace', '0.2s'],
      env: COORDINATOR_ENV,
    });
    const [worker] = cluster.workers(c, 1, 'full-out');
    // Filled once epoch 1 has ended: its metrics line, best/ and checkpoint are the previous good files.
    await c.waitFor(/"reason":"epoch end","msg":"checkpoint written"/, 60_000);
    const filled = await disk.fill();
    const died = await c.exited;
    expect(died.code, c.lines.slice(-5).join('\n')).toBe(1);

    // Every refused checkpoint logged with its path, errno and round; rounds closed between them: training went on.
    const file = join(disk.dir, CHECKPOINT_FILE);
    const failures = logsWith(c, 'checkpoint not written (ENOSPC): the previous file is kept, a later write retries');
    expect(failures.map((f) => f.consecutive)).toEqual([1, 2, 3]);
    for (const f of failures) expect(f).toMatchObject({ what: 'checkpoint', path: file, code: 'ENOSPC' });
    const firstFailure = c.lines.findIndex((l) => l.includes('"msg":"checkpoint not written'));
    expect(c.lines.slice(firstFailure).filter((l) => l.includes('"msg":"round closed"')).length).toBeGreaterThanOrEqual(2);
    // The clear error: the file, the errno, the last checkpoint kept.
    const stopped = c.lines.filter((l) => l.includes(`cannot write the checkpoint ${file} (ENOSPC): 3 checkpoints in a row failed`));
    expect(stopped.length, c.lines.slice(-5).join('\n')).toBeGreaterThan(0);

    // The previous checkpoint is the last one written, whole; nothing half-written is left; every file parses.
    const written = logsWith(c, 'checkpoint written');
    const kept = await readCheckpoint(file);
    expect(kept.header.state).toMatchObject({ version: written.at(-1)!.version, round: written.at(-1)!.round });
    expect(await tempsUnder(disk.dir)).toEqual([]);
    expect((await metricsEpochs(disk.dir))[0]).toBe(1);
    JSON.parse(await readFile(join(disk.dir, 'best', 'model.json'), 'utf8'));
    for (const name of await readdir(disk.dir).then((n) => n.filter((x) => x.endsWith('.json'))))
      JSON.parse(await readFile(join(disk.dir, name), 'utf8'));

    // Published: one run.write_failed per refusal, and the run's end naming the file.
    const events = await eventsOf(server.url, 'full-out', (es) => es.some((e) => e.type === 'run.finished'));
    const published = events
      .filter((e) => e.type === 'run.write_failed')
      .map((e) => e.data as { what: string; code: string; path: string });
    expect(published.filter((d) => d.what === 'checkpoint')).toHaveLength(3);
    for (const d of published) expect(d.code).toBe('ENOSPC');
    const end = events.find((e) => e.type === 'run.finished')!.data as { status: string; reason: string };
    expect(end.status).toBe('failed');
    expect(end.reason).toContain(`cannot write the checkpoint ${file} (ENOSPC)`);

    // Space back: --resume continues from the last checkpoint written and finishes; every sample applied once an epoch.
    await disk.free();
    const second = cluster.resume(c, COORDINATOR_ENV);
    const resumed = JSON.parse(await second.waitFor(/"msg":"resumed from checkpoint"/)) as { version: number };
    expect(resumed.version).toBe(written.at(-1)!.version);
    const exits = await Promise.all([second.exited, worker!.exited]);
    expect(
      exits.map((e) => e.code),
      second.lines.slice(-5).join('\n'),
    ).toEqual([0, 0]);
    expect(await metricsEpochs(disk.dir)).toEqual([1, 2, 3]);
    expect(await tempsUnder(disk.dir)).toEqual([]);
    JSON.parse(await readFile(join(disk.dir, 'best', 'model.json'), 'utf8'));
    const ledger = await readLedger(disk.dir, epochs, samples);
    recordChaos({
      scenario: "coordinator's --out full (tmpfs ENOSPC): stops after 3 checkpoints, --resume",
      faultsInjected: 1,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual(Array.from({ length: epochs }, () => [0, 0]));
    expect(filled).toBeGreaterThan(0);
  }, 60_000);

  it("fleet train --workers 1 (one process): the run's last epoch end cannot be written, so it writes no final checkpoint and exits 1 naming metrics.jsonl and ENOSPC; the epoch-1 checkpoint, line and best/ are whole, and --resume after freeing trains epoch 2 again and finishes", async () => {
    const disk = await tmpfs('disk-full-trainer', 2048);
    // fleet train --workers 1 on the chaos cluster's data: tiny model, 256 images, batch 16; checkpoints at epoch ends only.
    const args = ['--run-id', 'full-train', '--out', disk.dir, '--data-dir', cluster.dataDir, '--allow-partial', '--model', 'tiny'];
    args.push('--backend', 'wasm', '--augment', 'basic', '--lr', '0.02', '--warmup-epochs', '0', '--seed', '4', '--workers', '1');
    args.push('--epochs', '2', '--batch-size', '16', '--limit-train', '512', '--limit-test', '50', '--eval-batch-size', '50');
    args.push('--checkpoint-every', '0', '--progress', 'log');
    const p = cluster.track(startFleet(['train', ...args]));
    await p.waitFor(/"reason":"epoch end","msg":"checkpoint written"/, 60_000);
    // Held while the disk fills: on a fast machine epoch 2 (32 steps of a tiny model) can end before the fill does.
    p.child.kill('SIGSTOP');
    await disk.fill();
    p.child.kill('SIGCONT');
    const died = await p.exited;
    expect(died.code, p.lines.slice(-5).join('\n')).toBe(1);
    const metrics = join(disk.dir, 'metrics.jsonl');
    expect(logsWith(p, 'metrics not written (ENOSPC): the previous file is kept, a later write retries')).toMatchObject([
      { what: 'metrics', path: metrics, code: 'ENOSPC', epoch: 2 },
    ]);
    const message = `cannot write the metrics ${metrics} (ENOSPC): the run's last epoch`;
    expect(
      p.lines.some((l) => l.includes(message)),
      p.lines.slice(-5).join('\n'),
    ).toBe(true);
    // Epoch 1's end, whole: not a "finished" checkpoint a resume would refuse.
    const kept = await readCheckpoint(join(disk.dir, CHECKPOINT_FILE));
    expect(kept.header.state).toMatchObject({ writer: 'trainer', epochDone: true, epochTotals: { epoch: 1 } });
    expect(await metricsEpochs(disk.dir)).toEqual([1]);
    JSON.parse(await readFile(join(disk.dir, 'best', 'model.json'), 'utf8'));
    expect(await tempsUnder(disk.dir)).toEqual([]);

    await disk.free();
    const resumed = cluster.track(startFleet(['train', ...args, '--resume']));
    const end = await resumed.exited;
    expect(end.code, resumed.lines.slice(-5).join('\n')).toBe(0);
    expect(await metricsEpochs(disk.dir)).toEqual([1, 2]);
    expect(await tempsUnder(disk.dir)).toEqual([]);
    recordChaos({ scenario: 'fleet train --workers 1, the last epoch end on a full --out (tmpfs ENOSPC), --resume', faultsInjected: 1 });
  }, 60_000);

  it("the evaluator's --out fills up: its state and metrics lines (and best/ when beaten) are refused (logged, published), it goes on scoring; once space is back the next write carries what was refused, and every file is whole", async () => {
    const server = await nats();
    const disk = await tmpfs('disk-full-evaluator', 2048);
    const epochs = 4;
    const c = await cluster.coordinator('full-eval', {
      workers: 1,
      epochs,
      limitTrain: 256,
      extra: ['--nats', server.url, '--external-evaluator', '--evaluator-wait', '30'],
      env: COORDINATOR_ENV,
    });
    const evaluator = cluster.track(
      startFleet(['evaluator', '--coordinator', `127.0.0.1:${c.port}`, '--run', 'full-eval', '--nats', server.url, '--out', disk.dir]),
    );
    await evaluator.waitFor(/"msg":"evaluator ready"/, 60_000);
    const [worker] = cluster.workers(c, 1, 'full-eval');
    // Epoch 1 scored and written; the evaluator held still while the disk fills.
    await evaluator.waitFor(/"msg":"checkpoint evaluated"/, 60_000);
    evaluator.child.kill('SIGSTOP');
    await disk.fill();
    evaluator.child.kill('SIGCONT');
    // An epoch's state and metrics line refused (its best/ too when it beat the kept one): space back while it is
    // held still (the next write, or its exit, retries).
    await evaluator.waitFor(/metrics not written \(ENOSPC\)/, 60_000);
    evaluator.child.kill('SIGSTOP');
    const stateWhileFull = JSON.parse(await readFile(join(disk.dir, 'evaluator-state.json'), 'utf8')) as { evaluated: object };
    expect(Object.keys(stateWhileFull.evaluated)).toHaveLength(1);
    expect(await metricsEpochs(disk.dir)).toEqual([1]);
    await disk.free();
    evaluator.child.kill('SIGCONT');

    const exits = await Promise.all([c.exited, worker!.exited, evaluator.exited]);
    expect(
      exits.map((e) => e.code),
      evaluator.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    const refused = evaluator.lines
      .filter((l) => l.includes('not written (ENOSPC)'))
      .map((l) => JSON.parse(l) as { what: string; path: string; code: string });
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.map((r) => r.what)).toContain('evaluator-state');
    expect(refused.map((r) => r.what)).toContain('metrics');
    // Every epoch scored once, its line in metrics.jsonl, the state whole: what was refused came with a later write.
    expect(logsWith(evaluator, 'checkpoint evaluated')).toHaveLength(epochs);
    expect(await metricsEpochs(disk.dir)).toEqual([1, 2, 3, 4]);
    const state = JSON.parse(await readFile(join(disk.dir, 'evaluator-state.json'), 'utf8')) as {
      evaluated: object;
      best: { version: number };
    };
    expect(Object.keys(state.evaluated)).toHaveLength(epochs);
    const bestMeta = JSON.parse(await readFile(join(disk.dir, 'best', 'meta.json'), 'utf8')) as { version?: number };
    JSON.parse(await readFile(join(disk.dir, 'best', 'model.json'), 'utf8'));
    expect((await stat(join(disk.dir, 'best', 'weights.bin'))).size).toBeGreaterThan(0);
    // The state's best is the model best/ holds: a best/ refused was not counted as best.
    expect(state.best.version).toBe(bestMeta.version);
    expect(await tempsUnder(disk.dir)).toEqual([]);

    const events = await eventsOf(
      server.url,
      'full-eval',
      (es) => es.filter((e) => e.type === 'run.write_failed').length >= refused.length,
    );
    const published = events.filter((e) => e.type === 'run.write_failed' && e.source.startsWith('evaluator'));
    expect(published).toHaveLength(refused.length);
    recordChaos({ scenario: "evaluator's --out full (tmpfs ENOSPC), space freed", faultsInjected: 1 });
  }, 60_000);

  it("the nats-server's JetStream store fills up: publishes are refused, the events wait in the outbox (fleet_events_pending counts them), and all arrive, each once, once space is back and the server restarted", async () => {
    const disk = await tmpfs('disk-full-jetstream', 1024);
    // The server sizes its store limit from the free space at start (too small for the stream's 1 GiB): say a larger one,
    // as a store disk that was big enough once and filled up later would have.
    const conf = join(cluster.root, 'jetstream-store.conf');
    await writeFile(conf, 'jetstream { max_file_store: 10G }\n');
    const server = await startNatsServer({ storeDir: disk.dir, args: ['-c', conf] });
    servers.push(server);
    const bus = await connectNatsBus({ servers: server.url, name: 'disk-full-jetstream', log: captureLog().log, publishTimeoutMs: 500 });
    buses.push(bus);
    const publisher = bus.publisher('full-js', 'coordinator:js1');
    const metrics = coordinatorMetrics({ run: 'full-js' });
    metrics.eventsPending.track(publisher);
    publisher.publish('run.started', samplePayloads['run.started']);
    await publisher.flush(10_000);

    await disk.fill();
    const count = 40;
    for (let version = 1; version <= count; version++) publisher.publish('checkpoint', { ...samplePayloads.checkpoint, version });
    // Refused while the store is full: queued, none dropped (the outbox drops only progress and round events, and only at 10,000).
    await until('publishes refused', () => (publisher.pending ?? 0) > 0 && (publisher.pending ?? 0) < count + 1, 10_000, 50);
    await new Promise((r) => setTimeout(r, 1500));
    const stuck = samplesOf(await metrics.registry.metrics(), 'fleet_events_pending', 'run').get('full-js') ?? 0;
    expect(stuck).toBeGreaterThan(0);
    expect(stuck).toBe(publisher.pending);

    // nats-server 2.9 does not recover its store by itself once it is full (it stops answering): free, kill -9, start again.
    await disk.free();
    await server.kill();
    await server.restart();
    await publisher.flush(20_000);
    expect(publisher.pending).toBe(0);
    const events = await eventsOf(server.url, 'full-js', (es) => es.filter((e) => e.type === 'checkpoint').length >= count);
    const versions = events.filter((e) => e.type === 'checkpoint').map((e) => (e.data as { version: number }).version);
    expect(versions).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    recordChaos({ scenario: 'JetStream store full (tmpfs ENOSPC), freed, server restarted', faultsInjected: 1 });
  }, 60_000);
});
