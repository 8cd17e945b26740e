/**
 * Chaos: the services around training fail (the evaluator dies, the NATS
 * server goes away and comes back) and training does not notice. Real
 * processes and a nats-server of the test's own (skipped without one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { expectOrderedPerSource, readRunEvents } from '../helpers/run-events.js';
import { until } from '../helpers/wait.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

let cluster: ChaosCluster;
const servers: NatsServerHandle[] = [];

beforeAll(async () => {
  cluster = await ChaosCluster.create('services');
});

afterAll(async () => {
  await cluster.dispose();
  for (const s of servers) await s.dispose();
});

async function nats(): Promise<NatsServerHandle> {
  const s = await startNatsServer();
  servers.push(s);
  return s;
}

describe.skipIf(!natsServerAvailable())('chaos: service faults (real processes, real nats-server)', () => {
  it('the evaluator killed with kill -9 mid-run and never restarted: training goes on and finishes (exit 0) after --evaluator-wait', async () => {
    const server = await nats();
    const samples = 512;
    // Long enough to be still training when the evaluator dies, even on a loaded machine.
    const epochs = 4;
    const c = await cluster.coordinator('evaldown', {
      workers: 2,
      epochs,
      limitTrain: samples,
      checkpointEvery: 2,
      extra: ['--nats', server.url, '--external-evaluator', '--evaluator-wait', '3'],
    });
    const evaluator = cluster.track(
      startFleet([
        'evaluator',
        '--coordinator',
        `127.0.0.1:${c.port}`,
        '--run',
        'evaldown',
        '--nats',
        server.url,
        '--score-checkpoints',
        'every',
      ]),
    );
    await evaluator.waitFor(/"msg":"evaluator ready"/);
    const workers = cluster.workers(c, 2, 'evaldown');
    await evaluator.waitFor(/"msg":"checkpoint evaluated"/, 60_000);
    evaluator.child.kill('SIGKILL');
    await evaluator.exited;
    const roundsAtKill = logsWith(c, 'round closed').length;

    const exits = await Promise.all([c.exited, ...workers.map((w) => w.exited)]);
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    // Training went on without it, to the end; the finished run waited its 3 s for a score, then ended.
    expect(logsWith(c, 'round closed').length).toBeGreaterThan(roundsAtKill);
    expect(logsWith(c, 'the evaluator did not score the last checkpoint in time: finishing without it')).toHaveLength(1);

    const { events, malformed } = await readRunEvents(server.url, 'evaldown');
    expect(malformed).toEqual([]);
    const finished = events.find((e) => e.type === 'run.finished');
    expect(finished?.data).toMatchObject({ status: 'finished', epochs });
    const checkpoints = events.filter((e) => e.type === 'checkpoint').length;
    const evals = events.filter((e) => e.type === 'eval').length;
    expect(checkpoints).toBe(logsWith(c, 'checkpoint written').length);
    expect(evals).toBeLessThan(checkpoints);

    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: 'evaluator killed (kill -9), never restarted',
      faultsInjected: 1,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
  }, 240_000); // real processes on a shared machine: slower beside the heavy files of the suite

  it('nats-server stopped while the run trains and started again: rounds and checkpoints go on meanwhile, and every event reaches the stream once, in order', async () => {
    const server = await nats();
    const samples = 512;
    const epochs = 2;
    const c = await cluster.coordinator('natsdown', {
      workers: 2,
      epochs,
      limitTrain: samples,
      checkpointEvery: 4,
      extra: ['--nats', server.url],
    });
    // Down before the first round: everything until the restart happens without NATS.
    await server.stop();
    await c.waitFor(/"msg":"NATS disconnected: reconnecting \(events are queued meanwhile\)"/);
    const workers = cluster.workers(c, 2, 'natsdown');
    await until(
      'rounds and a checkpoint while NATS is down',
      () => logsWith(c, 'round closed').length >= 6 && logsWith(c, 'checkpoint written').length >= 1,
      60_000,
    );
    const roundsWhileDown = logsWith(c, 'round closed').length;
    await server.restart();

    const exits = await Promise.all([c.exited, ...workers.map((w) => w.exited)]);
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    expect(roundsWhileDown).toBeGreaterThanOrEqual(6);
    expect(logsWith(c, 'NATS reconnected').length).toBeGreaterThanOrEqual(1);

    const { events, malformed } = await readRunEvents(server.url, 'natsdown');
    expect(malformed).toEqual([]);
    expectOrderedPerSource(events);
    // Nothing lost: one round event per closed round, one checkpoint event per checkpoint written.
    const rounds = logsWith(c, 'round closed');
    expect(events.filter((e) => e.type === 'round').map((e) => (e.data as { round: number }).round)).toEqual(rounds.map((r) => r.round));
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => (e.data as { version: number }).version)).toEqual(
      logsWith(c, 'checkpoint written').map((l) => l.version),
    );
    expect(events.at(-1)?.type).toBe('run.finished');

    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: 'nats-server stopped and restarted mid-run',
      faultsInjected: 1,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});
