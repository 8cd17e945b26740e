/**
 * Failure detected in seconds: with the coordinator's default heartbeat
 * timeout (10 s), workers whose steps hold their main thread longer than
 * that (FLEET_FAULT_STEP_BLOCK_MS, as a long GPU step) stay members, since
 * their heartbeats come from a thread of their own; a worker killed with
 * kill -9 and one stopped with SIGSTOP in the middle of such a step are
 * evicted, and the round closed without them, within 15 s: the killed one at
 * once, as its connection (its heartbeat thread's Attend stream) drops, the
 * stopped one at the heartbeat timeout. Every sample is
 * still applied once per epoch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_STEP_BLOCK_ENV } from '../../services/worker/step/fault-step-block.js';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';

let cluster: ChaosCluster;

beforeAll(async () => {
  cluster = await ChaosCluster.create('liveness');
});

afterAll(async () => {
  await cluster.dispose();
});

const STEP_BLOCK_MS = 12_000;

describe('chaos: liveness with steps longer than the heartbeat timeout (real processes)', () => {
  it('blocked workers stay members; kill -9 and SIGSTOP during a step are evicted and the round closed within 15 s', async () => {
    const samples = 96;
    const epochs = 2;
    const c = await cluster.coordinator('liveness', {
      workers: 3,
      epochs,
      limitTrain: samples,
      heartbeatTimeoutS: 'default',
      roundTimeoutS: 120,
    });
    const block = { [FAULT_STEP_BLOCK_ENV]: String(STEP_BLOCK_MS) };
    const w0 = cluster.worker(c.port, 'live-w0');
    const w1 = cluster.worker(c.port, 'live-w1', [], block);
    const w2 = cluster.worker(c.port, 'live-w2', [], block);

    // Round 1: w1 and w2 hold their main threads 12 s, past the 10 s timeout, and are not evicted.
    await c.waitFor(/"round":1,.*"msg":"round closed"/, 90_000);
    expect(logsWith(c, 'worker evicted: no heartbeat')).toEqual([]);
    for (const w of [w1, w2]) await w.waitFor(/"round":1,.*"msg":"round contributed"/, 10_000);

    // Round 2: both are inside their blocked step again (fetched, then blocked); one dies, one hangs.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const faultAt = Date.now();
    w2.child.kill('SIGKILL');
    w1.child.kill('SIGSTOP');
    // The killed one's connection closes with its process: it is evicted at once ('connection dropped', from
    // its Attend stream); the stopped one keeps its connection and goes at the heartbeat timeout.
    await c.waitFor(/"name":"live-w2".*"msg":"worker evicted: connection dropped"/, 30_000);
    const droppedAfterMs = Date.now() - faultAt;
    const stopped = JSON.parse(await c.waitFor(/"name":"live-w1".*"msg":"worker evicted: no heartbeat"/, 30_000)) as { round: number };
    expect(Date.now() - faultAt).toBeLessThan(15_000);
    expect(logsWith(c, 'worker evicted: no heartbeat').map((l) => l.name)).toEqual(['live-w1']);
    // Well before the 10 s heartbeat timeout could have fired (generous for a loaded machine).
    expect(droppedAfterMs).toBeLessThan(8_000);
    // The round they were in closes with w0 alone, within the same 15 s (the round deadline is 120 s).
    await c.waitFor(new RegExp(`"round":${stopped.round},.*"msg":"round closed"`), 30_000);
    expect(Date.now() - faultAt).toBeLessThan(15_000);

    w1.child.kill('SIGCONT');
    const exits = await Promise.all([c.exited, w0.exited]);
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-5).join('\n'),
    ).toEqual([0, 0]);
    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: 'kill -9 and SIGSTOP during steps longer than the heartbeat timeout',
      faultsInjected: 2,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  }, 180_000);
});
