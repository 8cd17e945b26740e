/**
 * A network partition across hosts (test/helpers/net-hosts.ts): one worker
 * host's cable is pulled at the switch for longer than the coordinator's
 * --heartbeat-timeout. Unlike SIGSTOP or kill -9 (test/chaos), the worker
 * process keeps running: it is cut off, its calls go unanswered, and it
 * must find its way back once the cable is in again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { HostsBed } from '../helpers/hosts-run.js';
import { hostsSupport } from '../helpers/net-hosts.js';

if (!hostsSupport.ok) console.warn(`hosts-partition: skipped: ${hostsSupport.reason}`);

let bed: HostsBed;

beforeAll(async () => {
  if (hostsSupport.ok) bed = await HostsBed.create('partition', { names: ['coord', 'w0', 'w1'] });
});

afterAll(async () => {
  await bed?.dispose();
});

const contributedRound = (round: number) => new RegExp(`"round":${round},.*"msg":"round contributed"`);
const timeOf = (line: Record<string, unknown>) => line.time as number;

describe.skipIf(!hostsSupport.ok)('a partition between hosts (network namespaces, real processes)', () => {
  it('a worker host cut off longer than the heartbeat timeout is evicted, the run goes on with the other worker, and once the cable is back the cut-off worker registers again and trains; every sample is applied exactly once', async () => {
    // Enough rounds that w0 alone does not finish the run before w1 is back: a tiny model's round takes 20-50 ms
    // on a fast machine, and w1 needs the partition (3 s at least) and its retry backoff to return.
    const epochs = 30;
    const samples = 512;
    const heartbeatTimeoutMs = 2000;
    const c = await bed.coordinator(bed.host('coord'), 'hosts-partition', {
      workers: 2,
      epochs,
      limitTrain: samples,
      heartbeatTimeoutS: heartbeatTimeoutMs / 1000,
    });
    const w0 = bed.worker(bed.host('w0'), c, 'w0');
    // Short deadlines (a tiny model's call takes milliseconds): whichever call w1 is in when the cable
    // goes, it times out during the partition and w1 retries it with backoff until the coordinator answers.
    const w1 = bed.worker(bed.host('w1'), c, 'w1', ['--call-timeout', '1s', '--round-wait-timeout', '1s', '--transfer-timeout', '1s']);
    const w1Host = bed.host('w1');

    await w1.waitFor(contributedRound(2), 60_000);
    await w1Host.down();
    const downAt = Date.now();
    const eviction = JSON.parse(await c.waitFor(/"name":"w1".*"msg":"worker evicted: no heartbeat"/, 30_000)) as {
      round: number;
      silentMs: number;
    };
    expect(eviction.silentMs).toBeGreaterThanOrEqual(heartbeatTimeoutMs);
    // The run goes on without w1: two more rounds close while it is still cut off.
    await c.waitFor(new RegExp(`"round":${eviction.round + 2},.*"msg":"round closed"`), 30_000);
    // Down for 1.5 heartbeat timeouts at least: w1's own deadlines (1 s) pass and it retries meanwhile.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1.5 * heartbeatTimeoutMs - (Date.now() - downAt))));
    const upAt = Date.now();
    await w1Host.up();

    const exits = await Promise.all([c.exited, w0.exited, w1.exited]);
    expect(
      exits.map((e) => e.code),
      [...c.lines.slice(-5), ...w1.lines.slice(-5)].join('\n'),
    ).toEqual([0, 0, 0]);

    // While cut off, w1 kept trying: its calls timed out and were retried.
    const retries = logsWith(w1, 'coordinator unavailable: retrying').filter((l) => timeOf(l) >= downAt && timeOf(l) <= upAt);
    expect(retries.length, w1.lines.slice(-20).join('\n')).toBeGreaterThan(0);
    // Rounds closed with w0 alone while w1 was cut off.
    const alone = logsWith(c, 'round closed').filter((l) => timeOf(l) > downAt && timeOf(l) < upAt && l.contributed === 1);
    expect(alone.length).toBeGreaterThanOrEqual(2);
    // Back on the network, w1 hears it was evicted, registers again and trains the current rounds.
    const rejoined = w1.lines.findIndex((l) => l.includes('"msg":"evicted by the coordinator: registered again"'));
    expect(rejoined, w1.lines.slice(-10).join('\n')).toBeGreaterThan(0);
    expect(timeOf(JSON.parse(w1.lines[rejoined]!))).toBeGreaterThanOrEqual(upAt);
    const afterRejoin = w1.lines.slice(rejoined).filter((l) => l.includes('"msg":"round contributed"'));
    expect(afterRejoin.length, 'rounds w1 contributed after registering again').toBeGreaterThan(0);
    expect(logsWith(c, 'worker registered').filter((l) => l.name === 'w1')).toHaveLength(2);

    const ledger = await readLedger(c.out, epochs, samples);
    expect(ledger.reports.map((r) => [r.epoch, r.ok, r.missingCount, r.repeatedCount])).toEqual(
      Array.from({ length: epochs }, (_, i) => [i + 1, true, 0, 0]),
    );
  });
});
