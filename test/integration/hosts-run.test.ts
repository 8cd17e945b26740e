/**
 * A distributed run across hosts (network namespaces cabled to one bridge,
 * test/helpers/net-hosts.ts): the coordinator and a nats-server on host
 * `coord`, two workers on hosts `w0` and `w1`, the evaluator on host `eval`.
 * Every connection crosses the bridge: the coordinator listens on its host's
 * address only, and each host has nothing else but its loopback.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNatsServer } from '../../services/launcher/nats-server-process.js';
import { readLedger } from '../helpers/chaos-cluster.js';
import { HostsBed } from '../helpers/hosts-run.js';
import { hostsSupport } from '../helpers/net-hosts.js';

const nats = findNatsServer();
const skip = !hostsSupport.ok ? hostsSupport.reason : !nats ? 'no nats-server' : '';
if (skip) console.warn(`hosts-run: skipped: ${skip}`);

let bed: HostsBed;

beforeAll(async () => {
  if (skip) return;
  bed = await HostsBed.create('run', { names: ['coord', 'w0', 'w1', 'eval'], rate: '1gbit' });
});

afterAll(async () => {
  await bed?.dispose();
});

describe.skipIf(skip !== '')('fleet across hosts (network namespaces, real processes)', () => {
  it('coordinator and nats on one host, two workers on two others, the evaluator on a fourth: the run completes over the bridge and every sample is applied exactly once', async () => {
    const [coordHost, w0Host, w1Host, evalHost] = ['coord', 'w0', 'w1', 'eval'].map((n) => bed.host(n)) as [
      ReturnType<HostsBed['host']>,
      ReturnType<HostsBed['host']>,
      ReturnType<HostsBed['host']>,
      ReturnType<HostsBed['host']>,
    ];
    const natsUrl = `nats://${coordHost.address}:4333`;
    const server = coordHost.spawn(nats!, ['-a', coordHost.address, '-p', '4333', '-js', '-sd', join(bed.root, 'nats')]);
    await server.waitFor(/Server is ready/, 15_000);

    const epochs = 2;
    const samples = 256;
    const c = await bed.coordinator(coordHost, 'hosts-run', {
      workers: 2,
      epochs,
      limitTrain: samples,
      checkpointEvery: 4,
      extra: ['--nats', natsUrl, '--external-evaluator', '--evaluator-wait', '60'],
    });
    const before = await Promise.all([coordHost, w0Host, w1Host].map((h) => h.counters()));
    const workers = [bed.worker(w0Host, c, 'w0'), bed.worker(w1Host, c, 'w1')];
    const evaluator = evalHost.fleet(['evaluator', '--coordinator', c.address, '--run', 'hosts-run', '--nats', natsUrl]);

    const exits = await Promise.all([c.exited, ...workers.map((w) => w.exited), evaluator.exited]);
    expect(
      exits.map((e) => e.code),
      [...c.lines.slice(-5), ...evaluator.lines.slice(-5)].join('\n'),
    ).toEqual([0, 0, 0, 0]);

    const ledger = await readLedger(c.out, epochs, samples);
    expect(ledger.reports.map((r) => [r.epoch, r.ok, r.missingCount, r.repeatedCount])).toEqual([
      [1, true, 0, 0],
      [2, true, 0, 0],
    ]);
    // The evaluator on its own host scored each epoch's checkpoint into the run's metrics.
    const metrics = (await readFile(join(c.out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; testAccuracy: number });
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    expect(metrics.every((m) => Number.isFinite(m.testAccuracy))).toBe(true);

    // Both workers trained, and their tensors crossed the cables: each worker host received at
    // least its parameter downloads and sent its contributions through eth0.
    const contributed = workers.map((w) => w.lines.filter((l) => l.includes('"msg":"round contributed"')).map((l) => JSON.parse(l)));
    expect(contributed.map((rounds) => rounds.length > 0)).toEqual([true, true]);
    const after = await Promise.all([coordHost, w0Host, w1Host].map((h) => h.counters()));
    for (const [i, rounds] of contributed.entries()) {
      const sent = rounds.reduce((n: number, r: { bytes: number }) => n + r.bytes, 0);
      const fetched = rounds.reduce((n: number, r: { downloadBytes: number }) => n + r.downloadBytes, 0);
      expect(after[i + 1]!.txBytes - before[i + 1]!.txBytes, `w${i} sent`).toBeGreaterThan(sent);
      expect(after[i + 1]!.rxBytes - before[i + 1]!.rxBytes, `w${i} received`).toBeGreaterThan(fetched);
    }
    expect(after[0]!.rxBytes - before[0]!.rxBytes).toBeGreaterThan(
      contributed.flat().reduce((n: number, r: { bytes: number }) => n + r.bytes, 0),
    );
  });
});
