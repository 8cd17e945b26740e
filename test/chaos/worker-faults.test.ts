/**
 * Chaos: workers that hang or die, with real processes (a coordinator and
 * its workers, tiny model, short heartbeat timeout). Whatever happens to the
 * workers, every training sample is applied exactly once per epoch (the
 * coordinator's ledger) and the run finishes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { until } from '../helpers/wait.js';
import { recordChaos } from '../helpers/chaos-ledger.js';

let cluster: ChaosCluster;

beforeAll(async () => {
  cluster = await ChaosCluster.create('workers');
});

afterAll(async () => {
  await cluster.dispose();
});

const contributedRound = (round: number) => new RegExp(`"round":${round},.*"msg":"round contributed"`);

describe('chaos: worker faults (real processes)', () => {
  it('a worker hung with SIGSTOP is evicted at the heartbeat timeout and training goes on; continued with SIGCONT, it registers again and trains with the current parameters', async () => {
    const samples = 512;
    // Long enough that the continued worker finds rounds left to train even on a loaded machine.
    const epochs = 3;
    const c = await cluster.coordinator('hang', { workers: 2, epochs, limitTrain: samples });
    const [w0, w1] = cluster.workers(c, 2, 'hang');
    await w1!.waitFor(contributedRound(2));
    w1!.child.kill('SIGSTOP');
    const stoppedAt = Date.now();

    const eviction = JSON.parse(await c.waitFor(/"name":"hang-w1".*"msg":"worker evicted: no heartbeat"/, 30_000)) as {
      round: number;
      silentMs: number;
    };
    // Evicted on silence (heartbeat timeout 2 s), not at the 20 s round deadline.
    expect(Date.now() - stoppedAt).toBeLessThan(15_000);
    expect(eviction.silentMs).toBeGreaterThanOrEqual(2000);
    // The round it was in closes without it, and the next rounds go on with w0 alone.
    await c.waitFor(new RegExp(`"round":${eviction.round + 2},.*"msg":"round closed"`), 30_000);
    w1!.child.kill('SIGCONT');

    const exits = await Promise.all([c.exited, w0!.exited, w1!.exited]);
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);

    // What the code does on SIGCONT: its call for the round's parameters (a version the master
    // left behind) or its contribution is refused, the next round says "unknown worker", and it
    // registers again under a new id, then trains the rounds it is given.
    const rejoined = w1!.lines.findIndex((l) => l.includes('"msg":"evicted by the coordinator: registered again"'));
    expect(rejoined, w1!.lines.slice(-10).join('\n')).toBeGreaterThan(0);
    const afterRejoin = w1!.lines.slice(rejoined).filter((l) => l.includes('"msg":"round contributed"'));
    expect(afterRejoin.length, 'rounds contributed after registering again').toBeGreaterThan(0);
    expect(logsWith(c, 'worker registered').filter((l) => l.name === 'hang-w1').length).toBeGreaterThanOrEqual(2);

    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: 'worker hung (SIGSTOP), continued (SIGCONT)',
      faultsInjected: 1,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
  });

  it('two workers killed with kill -9 at different times, one replaced by a new process: the round closes without them, their batches go back to the pool, the newcomer trains from the current version', async () => {
    const samples = 512;
    // Long enough that the replacement (seconds to start on a loaded machine) joins a running run: 6 epochs took
    // 3.5 s on a fast machine, less than a replacement turned away as "run is full" (w0 not evicted yet) waits to retry.
    const epochs = 12;
    const c = await cluster.coordinator('kill', { workers: 3, epochs, limitTrain: samples });
    const [w0, w1, w2] = cluster.workers(c, 3, 'kill');

    // The first: between rounds, once it has contributed a few. A new worker process takes its
    // place at once; it registers when it is ready and is given work from the next round.
    await w0!.waitFor(contributedRound(2));
    w0!.child.kill('SIGKILL');
    const w3 = cluster.worker(c.port, 'kill-w3');
    // Evicted: at once as its connection drops with the process (or at the 2 s heartbeat timeout when the
    // coordinator saw its silence first, on a loaded machine); batches of an open round go back to the pool.
    await c.waitFor(/"name":"kill-w0".*"msg":"worker evicted: (connection dropped|no heartbeat)"/, 30_000);
    const closedAtEviction = logsWith(c, 'round closed').length;
    await until('a round closed after the eviction', () => logsWith(c, 'round closed').length > closedAtEviction);

    const first = JSON.parse(await w3.waitFor(/"msg":"round contributed"/, 60_000)) as { round: number; worker: string };
    // Accepted at the first try, so it trained from the round's version (the coordinator refuses
    // a contribution from any other version, FAILED_PRECONDITION) and it counted in the round.
    expect(first.round).toBeGreaterThan(2);
    expect(c.lines.filter((l) => l.includes(first.worker) && l.includes('refused'))).toEqual([]);

    // The second: right after the newcomer's first round, mid-epoch, while it trains.
    w2!.child.kill('SIGKILL');
    const secondKill = await w2!.exited;
    expect(secondKill.signal, 'w2 was still running when killed').toBe('SIGKILL');
    await c.waitFor(/"name":"kill-w2".*"msg":"worker evicted: (connection dropped|no heartbeat)"/, 30_000);

    const exits = await Promise.all([c.exited, w1!.exited, w3.exited]);
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    expect(w3.lines.filter((l) => l.includes('"msg":"round contributed"')).length).toBeGreaterThan(1);

    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: 'two workers killed (kill -9), one replaced',
      faultsInjected: 2,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual(ledger.reports.map(() => [0, 0]));
  });
});
