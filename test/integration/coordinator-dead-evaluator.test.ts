/**
 * A hand-run coordinator with --external-evaluator whose evaluator dies
 * (kill -9) during the run: once training is over it does not wait out
 * --evaluator-wait (300 s here) for a score nobody will send. No evaluator
 * liveness beat for --evaluator-heartbeat-timeout (3 s) ends the wait, and
 * the coordinator scores the last checkpoint itself: its metrics line and
 * eval event are there. With the evaluator alive, the same short timeout
 * still waits for the evaluator's score; with none ever started, the
 * coordinator says so and scores it too. Real processes, a nats-server of
 * the test's own.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosCluster, logsWith } from '../helpers/chaos-cluster.js';
import { startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { readRunEvents } from '../helpers/run-events.js';

const EPOCHS = 3;
let cluster: ChaosCluster;
const servers: NatsServerHandle[] = [];

beforeAll(async () => {
  cluster = await ChaosCluster.create('dead-evaluator');
});

afterAll(async () => {
  await cluster.dispose();
  for (const s of servers) await s.dispose();
});

/** A coordinator with --external-evaluator (wait 300 s, heartbeat timeout 3 s), two workers and an evaluator of every checkpoint. */
async function startRun(name: string, options: { evaluator?: boolean } = {}) {
  const server = await startNatsServer();
  servers.push(server);
  const c = await cluster.coordinator(name, {
    workers: 2,
    epochs: EPOCHS,
    checkpointEvery: 2,
    extra: ['--nats', server.url, '--external-evaluator', '--evaluator-wait', '300', '--evaluator-heartbeat-timeout', '3'],
  });
  if (options.evaluator === false) return { server, c, evaluator: null, workers: cluster.workers(c, 2, name) };
  const evaluator = cluster.track(
    startFleet(['evaluator', '--coordinator', `127.0.0.1:${c.port}`, '--run', name, '--nats', server.url, '--score-checkpoints', 'every']),
  );
  await evaluator.waitFor(/"msg":"evaluator ready"/);
  const workers = cluster.workers(c, 2, name);
  return { server, c, evaluator, workers };
}

/** Resolves with the process's exit, or rejects after `ms`: a coordinator waiting out --evaluator-wait fails the test in time. */
function exitWithin<T>(exited: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} still running after ${ms} ms`)), ms).unref()),
  ]);
}

async function metricsEpochs(out: string): Promise<number[]> {
  const text = await readFile(join(out, 'metrics.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { epoch: number }).epoch);
}

describe.skipIf(!natsServerAvailable())('coordinator --external-evaluator with a dead evaluator (real processes)', () => {
  it('the evaluator killed with kill -9 mid-run: the coordinator ends its wait within the heartbeat timeout and scores the last checkpoint itself', async () => {
    const { server, c, evaluator, workers } = await startRun('evaldead');
    if (!evaluator) throw new Error('no evaluator started');
    await evaluator.waitFor(/"msg":"checkpoint evaluated"/, 60_000);
    evaluator.child.kill('SIGKILL');
    await evaluator.exited;
    const roundsAtKill = logsWith(c, 'round closed').length;

    await c.waitFor(/"msg":"run finished"/, 90_000);
    const trainingOver = Date.now();
    const exits = await exitWithin(Promise.all([c.exited, ...workers.map((w) => w.exited)]), 60_000, 'the coordinator');
    const afterTrainingMs = Date.now() - trainingOver;
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-8).join('\n'),
    ).toEqual([0, 0, 0]);
    // Training went on after the kill; the end came well before --evaluator-wait (300 s).
    expect(logsWith(c, 'round closed').length).toBeGreaterThan(roundsAtKill);
    expect(afterTrainingMs).toBeLessThan(60_000);

    const lastVersion = logsWith(c, 'checkpoint written').at(-1)!.version as number;
    const silent = logsWith(c, 'the evaluator stopped beating (dead or hung): it will not score the last checkpoint');
    expect(silent).toHaveLength(1);
    expect(silent[0]).toMatchObject({ run: 'evaldead', version: lastVersion, heartbeatTimeoutS: 3 });
    expect(logsWith(c, 'the last checkpoint scored by the coordinator')).toEqual([
      expect.objectContaining({ run: 'evaldead', version: lastVersion, epoch: EPOCHS }),
    ]);
    expect(logsWith(c, 'the evaluator did not score the last checkpoint in time: finishing without it')).toEqual([]);

    // The last epoch's metrics line, and its eval event before run.finished.
    expect(await metricsEpochs(c.out)).toContain(EPOCHS);
    const { events } = await readRunEvents(server.url, 'evaldead');
    const evalOfLast = events.findIndex((e) => e.type === 'eval' && (e.data as { version: number }).version === lastVersion);
    const finished = events.findIndex((e) => e.type === 'run.finished');
    expect(evalOfLast).toBeGreaterThanOrEqual(0);
    expect(evalOfLast).toBeLessThan(finished);
    expect(events[finished]?.data).toMatchObject({ status: 'finished', version: lastVersion });
  }, 180_000);

  it('the evaluator alive: the same 3 s heartbeat timeout still waits for its score of the last checkpoint', async () => {
    const { c, evaluator, workers } = await startRun('evalalive');
    if (!evaluator) throw new Error('no evaluator started');
    const exits = await exitWithin(Promise.all([c.exited, evaluator.exited, ...workers.map((w) => w.exited)]), 150_000, 'the run');
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-8).join('\n'),
    ).toEqual([0, 0, 0, 0]);
    const lastVersion = logsWith(c, 'checkpoint written').at(-1)!.version as number;
    expect(logsWith(c, 'evaluator alive')).toHaveLength(1);
    expect(logsWith(c, 'the evaluator scored the last checkpoint')).toEqual([expect.objectContaining({ version: lastVersion })]);
    expect(logsWith(c, 'scoring the last checkpoint here (no evaluator alive to)')).toEqual([]);
    expect(logsWith(evaluator, 'checkpoint evaluated').map((l) => l.version)).toContain(lastVersion);
    expect(await metricsEpochs(c.out)).toContain(EPOCHS);
  }, 180_000);

  it('no evaluator ever started: the coordinator says none is running and scores the last checkpoint itself', async () => {
    const { c, workers } = await startRun('evalnone', { evaluator: false });
    const exits = await exitWithin(Promise.all([c.exited, ...workers.map((w) => w.exited)]), 120_000, 'the coordinator');
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-8).join('\n'),
    ).toEqual([0, 0, 0]);
    const lastVersion = logsWith(c, 'checkpoint written').at(-1)!.version as number;
    expect(logsWith(c, 'no evaluator liveness beat heard: no evaluator is running to score the last checkpoint')).toEqual([
      expect.objectContaining({ run: 'evalnone', version: lastVersion, lastEvaluator: null }),
    ]);
    expect(logsWith(c, 'the last checkpoint scored by the coordinator')).toEqual([expect.objectContaining({ version: lastVersion })]);
    expect(await metricsEpochs(c.out)).toEqual([EPOCHS]);
  }, 180_000);
});
