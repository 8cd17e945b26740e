/**
 * Chaos: bad input, each refused with a clear error and no change of state.
 * Real processes: the gRPC inputs go to a real `fleet coordinator` from a
 * raw client that plays its workers; the files, flags and events go to the
 * real commands and services.
 */
import { status as Status } from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { cp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkTensorSet, wrapTensorSet, type TensorEntry, type TensorSet } from '../../src/exchange/index.js';
import { MAX_MESSAGE_BYTES } from '../../src/rpc/channel-options.js';
import {
  ContributionKind,
  type ContributionChunk,
  type ContributionHeader,
  type RoundAssignment,
  type TensorManifest,
} from '../../proto/gen/fleet/v1/coordinator.js';
import { samplePayloads } from '../fixtures/event-samples.js';
import { setLabelByte, truncateFile } from '../fixtures/cifar10-files.js';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { readRunEvents } from '../helpers/run-events.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { RawCoordinator } from '../helpers/raw-coordinator.js';
import { runFleet } from '../helpers/run-fleet.js';
import { samplesOf as metricSamples, scrape } from '../helpers/prometheus-text.js';

let cluster: ChaosCluster;
const servers: NatsServerHandle[] = [];

beforeAll(async () => {
  cluster = await ChaosCluster.create('bad-input');
});

afterAll(async () => {
  await cluster.dispose();
  for (const s of servers) await s.dispose();
});

const samplesOf = (a: RoundAssignment) => a.batches.reduce((n, b) => n + b.indices.length, 0);

/** A contribution as a worker sends it: the header carrying the manifest, then data in `chunkBytes` pieces. */
function contribution(set: TensorSet, header: Omit<ContributionHeader, 'manifest'>, chunkBytes = 16 * 1024): ContributionChunk[] {
  return [...chunkTensorSet(set, chunkBytes)].map((c): ContributionChunk => {
    const part = c.part!;
    return part.$case === 'manifest'
      ? { part: { $case: 'header', value: { ...header, manifest: part.value } } }
      : { part: { $case: 'data', value: part.value } };
  });
}

/** The same messages with the header's manifest changed by `f`. */
function withManifest(messages: ContributionChunk[], f: (m: TensorManifest) => TensorManifest): ContributionChunk[] {
  const [first, ...rest] = messages;
  if (first?.part?.$case !== 'header') throw new Error('no header');
  return [{ part: { $case: 'header', value: { ...first.part.value, manifest: f(structuredClone(first.part.value.manifest!)) } } }, ...rest];
}

/** Zero gradients over `entries` with `edit` applied to the float array (NaN, Inf...). */
function gradients(entries: readonly TensorEntry[], version: number, edit: (values: Float32Array) => void = () => {}): TensorSet {
  const values = new Float32Array(entries.reduce((n, e) => n + e.byteLength, 0) / 4);
  edit(values);
  return wrapTensorSet(entries, values, version);
}

interface BadCase {
  name: string;
  messages: () => ContributionChunk[];
  code: Status;
  details: RegExp;
  /** The refused tensor the status names (trailing metadata). */
  tensor?: string;
}

describe('chaos: bad input (real processes)', () => {
  it('gRPC: bad contributions (shape, length, dtype, names, NaN/Inf, CRC, truncated and broken streams, oversized), stale and future rounds and versions, duplicate and unknown workers are each refused with their status, and nothing changes', async () => {
    const samples = 64;
    const c = await cluster.coordinator('grpc', {
      workers: 2,
      epochs: 1,
      limitTrain: samples,
      heartbeatTimeoutS: 3,
      roundTimeoutS: 120,
      env: { FLEET_METRICS_PORT: '0', FLEET_METRICS_HOST: '127.0.0.1' },
    });
    const metricsUrl = JSON.parse(await c.waitFor(/"msg":"metrics"/)).url as string;
    const raw = new RawCoordinator(`127.0.0.1:${c.port}`);
    const a = await raw.register('bad-a');
    const b = await raw.register('bad-b');
    const beat = setInterval(() => {
      void raw.heartbeat(a.workerId).catch(() => {});
      void raw.heartbeat(b.workerId).catch(() => {});
    }, 300);
    let tried = 0;
    try {
      const [ra, rb] = await Promise.all([raw.nextRound(a.workerId, 0), raw.nextRound(b.workerId, 0)]);
      expect([ra.round, ra.version, samplesOf(ra), samplesOf(rb)]).toEqual([0, 1, 16, 16]);
      const before = await raw.describe();
      const p1 = await raw.fetch(0);
      const entries = p1.entries;
      const multiDim = entries.find((e) => e.shape.length > 1)!;
      const lastEntry = entries.at(-1)!;
      const header = (worker: string, r: RoundAssignment, over: Partial<ContributionHeader> = {}) => ({
        workerId: worker,
        round: r.round,
        version: r.version,
        sampleCount: samplesOf(r),
        kind: ContributionKind.CONTRIBUTION_KIND_GRADIENTS,
        // A refused contribution that leaked into the epoch's totals would show in the metrics line's trainLoss.
        lossSum: 1000,
        correct: 16,
        trainMs: 1,
        ...over,
      });
      const good = (over: Partial<ContributionHeader> = {}) => contribution(gradients(entries, 1), header(a.workerId, ra, over));
      const floatOffset = (e: TensorEntry) => e.byteOffset / 4;

      const cases: BadCase[] = [
        {
          name: 'a tensor of the wrong shape (same size)',
          code: Status.INVALID_ARGUMENT,
          details: /shape \[.*\], expected \[.*\]/,
          tensor: multiDim.name,
          messages: () =>
            withManifest(good(), (m) => ({
              ...m,
              tensors: m.tensors.map((t) => (t.name === multiDim.name ? { ...t, shape: [...t.shape].reverse() } : t)),
            })),
        },
        {
          name: 'a tensor one element short (shape and length)',
          code: Status.INVALID_ARGUMENT,
          details: /tensor set refused/,
          tensor: lastEntry.name,
          messages: () =>
            withManifest(good(), (m) => ({
              ...m,
              totalBytes: m.totalBytes - 4,
              tensors: m.tensors.map((t) =>
                t.name === lastEntry.name ? { ...t, shape: [t.shape[0]! - 1], byteLength: t.byteLength - 4 } : t,
              ),
            })),
        },
        {
          name: "a byte length that is not its shape's",
          code: Status.INVALID_ARGUMENT,
          details: /tensor set refused/,
          tensor: lastEntry.name,
          messages: () =>
            withManifest(good(), (m) => ({
              ...m,
              totalBytes: m.totalBytes - 4,
              tensors: m.tensors.map((t) => (t.name === lastEntry.name ? { ...t, byteLength: t.byteLength - 4 } : t)),
            })),
        },
        {
          name: 'dtype float64',
          code: Status.INVALID_ARGUMENT,
          details: /dtype float64, expected float32/,
          tensor: entries[0]!.name,
          messages: () =>
            withManifest(good(), (m) => ({ ...m, tensors: m.tensors.map((t, i) => (i === 0 ? { ...t, dtype: 'float64' } : t)) })),
        },
        {
          name: 'dtype int32',
          code: Status.INVALID_ARGUMENT,
          details: /dtype int32, expected float32/,
          messages: () => withManifest(good(), (m) => ({ ...m, tensors: m.tensors.map((t) => ({ ...t, dtype: 'int32' })) })),
        },
        {
          name: 'a tensor the model does not have',
          code: Status.INVALID_ARGUMENT,
          details: /unknown tensor name|tensor missing from the set/,
          messages: () =>
            withManifest(good(), (m) => ({
              ...m,
              tensors: m.tensors.map((t) => (t.name === lastEntry.name ? { ...t, name: 'zz/not_a_tensor' } : t)),
            })),
        },
        {
          name: 'a tensor missing',
          code: Status.INVALID_ARGUMENT,
          details: /tensor missing from the set/,
          tensor: lastEntry.name,
          messages: () =>
            withManifest(good().slice(0, 1), (m) => ({
              ...m,
              totalBytes: m.totalBytes - lastEntry.byteLength,
              tensors: m.tensors.slice(0, -1),
            })),
        },
        {
          name: 'a NaN',
          code: Status.INVALID_ARGUMENT,
          details: /value NaN at index 3/,
          tensor: multiDim.name,
          messages: () =>
            contribution(
              gradients(entries, 1, (v) => {
                v[floatOffset(multiDim) + 3] = Number.NaN;
              }),
              header(a.workerId, ra),
            ),
        },
        {
          name: '+Infinity',
          code: Status.INVALID_ARGUMENT,
          details: /value Infinity at index 0/,
          tensor: lastEntry.name,
          messages: () =>
            contribution(
              gradients(entries, 1, (v) => {
                v[floatOffset(lastEntry)] = Number.POSITIVE_INFINITY;
              }),
              header(a.workerId, ra),
            ),
        },
        {
          name: '-Infinity',
          code: Status.INVALID_ARGUMENT,
          details: /value -Infinity/,
          messages: () =>
            contribution(
              gradients(entries, 1, (v) => {
                v[v.length - 1] = Number.NEGATIVE_INFINITY;
              }),
              header(a.workerId, ra),
            ),
        },
        {
          name: 'a CRC-32C that does not match',
          code: Status.INVALID_ARGUMENT,
          details: /CRC-32C 0x[0-9a-f]+, the manifest says/,
          messages: () => withManifest(good(), (m) => ({ ...m, crc32c: (m.crc32c ^ 1) >>> 0 })),
        },
        {
          name: 'a data byte changed on the way',
          code: Status.INVALID_ARGUMENT,
          details: /CRC-32C/,
          messages: () =>
            good().map(
              (m, i): ContributionChunk =>
                i === 1 && m.part?.$case === 'data'
                  ? { part: { $case: 'data', value: Buffer.from(m.part.value.map((x, j) => (j === 5 ? x ^ 0xff : x))) } }
                  : m,
            ),
        },
        {
          name: 'truncated: the last data message missing',
          code: Status.INVALID_ARGUMENT,
          details: /\d+ bytes, expected \d+/,
          messages: () => good().slice(0, -1),
        },
        {
          name: 'a data message too many',
          code: Status.INVALID_ARGUMENT,
          details: /past the manifest's total/,
          messages: () => [...good(), { part: { $case: 'data', value: Buffer.alloc(64) } }],
        },
        {
          name: 'data before the header',
          code: Status.INVALID_ARGUMENT,
          details: /data before the header/,
          messages: () => {
            const m = good();
            return [m[1]!, m[0]!, ...m.slice(2)];
          },
        },
        {
          name: 'a second header',
          code: Status.INVALID_ARGUMENT,
          details: /a second header/,
          messages: () => {
            const m = good();
            return [m[0]!, m[0]!, ...m.slice(1)];
          },
        },
        { name: 'no message at all', code: Status.INVALID_ARGUMENT, details: /ended without a header/, messages: () => [] },
        {
          name: 'a header without a manifest',
          code: Status.INVALID_ARGUMENT,
          details: /a header without a manifest/,
          messages: () => [{ part: { $case: 'header', value: { ...header(a.workerId, ra), manifest: undefined } } }],
        },
        {
          name: 'an empty message',
          code: Status.INVALID_ARGUMENT,
          details: /neither header nor data/,
          messages: () => [{ part: undefined }, ...good()],
        },
        {
          name: 'a manifest announcing 1 GiB',
          code: Status.RESOURCE_EXHAUSTED,
          details: /exceed the limit of \d+ bytes/,
          messages: () => withManifest(good(), (m) => ({ ...m, totalBytes: 2 ** 30 })),
        },
        {
          name: 'one message over the 8 MiB message limit',
          code: Status.RESOURCE_EXHAUSTED,
          details: /larger than max|max.*message/i,
          messages: () => [good()[0]!, { part: { $case: 'data', value: Buffer.alloc(MAX_MESSAGE_BYTES + 1024) } }],
        },
        {
          name: 'kind unspecified',
          code: Status.INVALID_ARGUMENT,
          details: /contribution kind 0/,
          messages: () => good({ kind: ContributionKind.CONTRIBUTION_KIND_UNSPECIFIED }),
        },
        {
          name: 'kind parameters in a gradient run',
          code: Status.FAILED_PRECONDITION,
          details: /expected gradients, got parameters/,
          messages: () => good({ kind: ContributionKind.CONTRIBUTION_KIND_PARAMETERS }),
        },
        {
          name: 'a future round',
          code: Status.FAILED_PRECONDITION,
          details: /for round 7 refused: not the open round \(open round: 0\)/,
          messages: () => good({ round: 7 }),
        },
        {
          name: 'a version from the future',
          code: Status.FAILED_PRECONDITION,
          details: /started from version 2, the round's is 1/,
          messages: () => good({ version: 2 }),
        },
        { name: 'version 0', code: Status.FAILED_PRECONDITION, details: /started from version 0/, messages: () => good({ version: 0 }) },
        {
          name: 'a sample count other than assigned',
          code: Status.FAILED_PRECONDITION,
          details: /sample count 17, assigned 16/,
          messages: () => good({ sampleCount: 17 }),
        },
        {
          name: 'an unknown worker id',
          code: Status.NOT_FOUND,
          details: /unknown worker w999999-ffffff/,
          messages: () => good({ workerId: 'w999999-ffffff' }),
        },
        { name: 'an empty worker id', code: Status.NOT_FOUND, details: /unknown worker/, messages: () => good({ workerId: '' }) },
      ];

      const version = async () => (await raw.describe()).version;
      for (const bad of cases) {
        const outcome = await raw.contribute(bad.messages());
        tried++;
        expect(Status[outcome.code], `${bad.name}: ${outcome.details}`).toBe(Status[bad.code]);
        expect(outcome.details, bad.name).toMatch(bad.details);
        if (bad.tensor) expect(outcome.tensor, bad.name).toBe(bad.tensor);
        expect(await version(), `${bad.name} changed the version`).toBe(1);
      }

      // Other calls with bad ids or versions.
      const nextUnknown = await raw.callBytes('nextRound', Buffer.from([0x0a, 0x03, 0x78, 0x78, 0x78])); // worker_id "xxx"
      expect([Status[nextUnknown.code], nextUnknown.details]).toEqual(['NOT_FOUND', 'unknown worker xxx: register (again) first']);
      const gone = await raw.fetchOutcome(999);
      expect(Status[gone.code]).toBe('FAILED_PRECONDITION');
      expect(gone.details).toMatch(/parameter version 999 is not available \(current: 1\)/);
      expect(gone.ms).toBeLessThan(3000);
      expect(await raw.heartbeat('w999999-ffffff')).toBe(false);
      await raw.leave('w999999-ffffff'); // unknown: nothing to do, nothing done
      const otherRun = await raw.register('intruder', 'another-run').then(
        () => null,
        (err: Error) => err.message,
      );
      expect(otherRun).toMatch(/FAILED_PRECONDITION this coordinator runs grpc, not another-run/);
      tried += 5;

      // A hung upload (header and one data message, then silence) is refused at the heartbeat
      // timeout (3 s) and frees the contribution slot: b's contribution, queued behind it, goes in.
      const settled: string[] = [];
      const stalled = raw.contribute(good().slice(0, 2), { end: false, deadlineMs: 60_000 }).finally(() => settled.push('stalled'));
      // A call answered on the same connection after the stalled one started: the server has taken the stalled one first.
      await raw.describe();
      const bOutcome = await raw
        .contribute(contribution(gradients(entries, 1), header(b.workerId, rb, { lossSum: 0, correct: 0 })), { deadlineMs: 20_000 })
        .finally(() => settled.push('b'));
      const stall = await stalled;
      expect(settled).toEqual(['stalled', 'b']);
      expect([Status[stall.code], stall.details]).toEqual(['DEADLINE_EXCEEDED', 'the stream sent nothing for 3000 ms (after 2 messages)']);
      expect(Status[bOutcome.code], bOutcome.details).toBe('OK');
      // An upload cancelled half-way by its sender frees the slot too.
      const cancelled = await raw.contribute(good().slice(0, 2), { end: false, cancelAfterMs: 100 });
      expect(Status[cancelled.code]).toBe('CANCELLED');
      // A second copy of b's accepted contribution is refused: it counts once.
      const duplicate = await raw.contribute(contribution(gradients(entries, 1), header(b.workerId, rb)));
      expect([Status[duplicate.code], duplicate.details]).toEqual([
        'FAILED_PRECONDITION',
        `worker ${b.workerId} cannot contribute to round 0: already contributed`,
      ]);
      tried += 3;
      expect(await version()).toBe(1);
      expect((await raw.describe()).retainedVersions).toEqual(before.retainedVersions);
      expect(await raw.healthOf('fleet.v1.Coordinator')).toBe('SERVING');

      // a's real contribution closes round 0: the master moved by weight decay alone (zero
      // gradients), so nothing refused reached it.
      const accepted = await raw.contribute(contribution(gradients(entries, 1), header(a.workerId, ra, { lossSum: 0, correct: 0 })));
      expect(Status[accepted.code], accepted.details).toBe('OK');
      const [a1, b1] = await Promise.all([raw.nextRound(a.workerId, 1), raw.nextRound(b.workerId, 1)]);
      expect([a1.round, a1.version, samplesOf(a1), samplesOf(b1)]).toEqual([1, 2, 16, 16]);
      const p2 = await raw.fetch(0);
      const v1 = new Float32Array(p1.buffer.buffer, p1.buffer.byteOffset, p1.buffer.byteLength / 4);
      const v2 = new Float32Array(p2.buffer.buffer, p2.buffer.byteOffset, p2.buffer.byteLength / 4);
      const ratios = [...v1.keys()].filter((i) => Math.abs(v1[i]!) > 1e-2).map((i) => v2[i]! / v1[i]!);
      expect(Math.max(...ratios) - Math.min(...ratios)).toBeLessThan(1e-6);
      expect(1 - ratios[0]!).toBeCloseTo(0.02 * 5e-4, 7);

      // Round 1: a contribution for round 0 is now stale.
      const stale = await raw.contribute(contribution(gradients(entries, 1), header(a.workerId, ra)));
      expect([Status[stale.code], stale.details]).toEqual([
        'FAILED_PRECONDITION',
        `contribution of worker ${a.workerId} for round 0 refused: not the open round (open round: 1)`,
      ]);
      tried++;
      // Every refused contribution is counted for Prometheus under the class the worker was sent.
      const counted = metricSamples(await scrape(metricsUrl), 'fleet_contributions_refused_total', 'reason');
      expect([...counted.values()].reduce((n, v) => n + v, 0)).toBe(logsWith(c, 'contribution refused').length);
      expect(counted.get('StaleContributionError')).toBeGreaterThan(0);
      for (const [w, r] of [
        [a.workerId, a1],
        [b.workerId, b1],
      ] as const) {
        const ok = await raw.contribute(contribution(gradients(entries, 2), header(w, r, { lossSum: 0, correct: 0 })));
        expect(Status[ok.code], ok.details).toBe('OK');
      }
      const end = await raw.nextRound(a.workerId, 2);
      expect(end.finished).toBe(true);
    } finally {
      clearInterval(beat);
      raw.close();
    }
    expect((await c.exited).code, c.lines.slice(-5).join('\n')).toBe(0);
    // The epoch saw exactly the accepted contributions: 64 samples, loss 0 (refused ones carried 1000).
    const metrics = JSON.parse((await readFile(join(c.out, 'metrics.jsonl'), 'utf8')).trim()) as {
      trainSamples: number;
      trainLoss: number;
    };
    expect([metrics.trainSamples, metrics.trainLoss]).toEqual([samples, 0]);
    expect(logsWith(c, 'contribution failed')).toEqual([]); // every refusal was a known error, none INTERNAL
    const ledger = await readLedger(c.out, 1, samples);
    recordChaos({ scenario: 'bad gRPC input', badInputsTried: tried, samplesLost: ledger.lost, samplesRepeated: ledger.repeated });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([[0, 0]]);
  });

  it('data files: a truncated or corrupt file, or none, stops the coordinator before it writes anything (exit 1, naming the file); a worker whose own copy is bad leaves at once and the run goes on', async () => {
    const truncated = join(cluster.root, 'data-truncated');
    const badLabel = join(cluster.root, 'data-label');
    const empty = join(cluster.root, 'data-empty');
    for (const dir of [truncated, badLabel, empty]) await cp(cluster.dataDir, dir, { recursive: true });
    await truncateFile(join(truncated, 'data_batch_1.bin'), 100);
    await setLabelByte(join(badLabel, 'data_batch_1.bin'), 3, 10);
    await rm(join(empty, 'data_batch_1.bin'));
    const cases = [
      {
        dir: truncated,
        message: new RegExp(
          `${join(truncated, 'data_batch_1.bin')} is [\\d,]+ bytes, not a multiple of 3,073: 511 whole records, then a partial record`,
        ),
      },
      {
        dir: badLabel,
        message: new RegExp(
          `${join(badLabel, 'data_batch_1.bin')}: record 3 \\(byte offset 9,219\\) is corrupt: label byte is 10, expected 0-9`,
        ),
      },
      { dir: empty, message: /data_batch/ },
    ];
    const results = await Promise.all(
      cases.map(async ({ dir }, i) => {
        const args = cluster.coordinatorArgs(`data-${i}`, { workers: 1 });
        return runFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args, '--data-dir', dir], { timeoutMs: 30_000 });
      }),
    );
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(cases[i]!.message);
      expect(r.stdout).not.toContain('"msg":"listening"');
    });
    for (let i = 0; i < cases.length; i++) await expect(stat(join(cluster.root, `data-${i}`))).rejects.toThrow(/ENOENT/);

    // A worker with a truncated copy: registers, fails to load, leaves (no heartbeat timeout to wait out).
    const samples = 256;
    const c = await cluster.coordinator('badworker', { workers: 1, epochs: 1, limitTrain: samples, heartbeatTimeoutS: 30 });
    const bad = cluster.worker(c.port, 'bad-copy', ['--data-dir', truncated]);
    const badExit = await bad.exited;
    expect(badExit.code).toBe(1);
    expect(bad.lines.join('\n')).toMatch(/data_batch_1\.bin is [\d,]+ bytes, not a multiple of 3,073/);
    const left = JSON.parse(await c.waitFor(/"msg":"worker left"/)) as { reason: string };
    expect(left.reason).toMatch(/^failed: .*data_batch_1\.bin is [\d,]+ bytes/);
    const good = cluster.worker(c.port, 'good-copy');
    const exits = await Promise.all([c.exited, good.exited]);
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(c.lines.filter((l) => l.includes('worker evicted'))).toEqual([]);
    const ledger = await readLedger(c.out, 1, samples);
    recordChaos({
      scenario: 'corrupt data files',
      badInputsTried: cases.length + 1,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([[0, 0]]);
  });

  it("config values out of range are refused before anything runs: exit 2, naming the flag (or FLEET_ variable's flag), no run directory", async () => {
    const cases: { args: string[]; env?: Record<string, string>; flag: string }[] = [
      { args: ['train', '--lr', '-1'], flag: '--lr' },
      { args: ['train', '--lr', 'fast'], flag: '--lr' },
      { args: ['train', '--epochs', '0'], flag: '--epochs' },
      { args: ['train', '--batch-size', '0'], flag: '--batch-size' },
      { args: ['train', '--momentum', '1'], flag: '--momentum' },
      { args: ['train', '--label-smoothing', '1'], flag: '--label-smoothing' },
      { args: ['train', '--seed', '-1'], flag: '--seed' },
      { args: ['train', '--workers', '0'], flag: '--workers' },
      { args: ['train', '--run-id', 'a.b'], flag: '--run-id' },
      { args: ['train', '--model', 'vgg'], flag: '--model' },
      { args: ['train', '--lr', '0.1', '--min-lr', '0.5'], flag: '--min-lr' },
      { args: ['train'], env: { FLEET_LR: '-1' }, flag: '--lr' },
      { args: ['coordinator', '--host', '127.0.0.1', '--port', '0', '--lr', '-1'], flag: '--lr' },
      { args: ['coordinator', '--host', '127.0.0.1', '--port', '0', '--weight-decay', '2'], flag: '--weight-decay' },
    ];
    const results = await Promise.all(
      cases.map((c, i) =>
        runFleet([...c.args, '--data-dir', cluster.dataDir, '--allow-partial', '--out', join(cluster.root, `config-${i}`)], {
          // 14 processes start at once (about 2 s of CPU each to load): generous for a loaded 2-core machine.
          timeoutMs: 100_000,
          ...(c.env ? { env: c.env } : {}),
        }),
      ),
    );
    recordChaos({ scenario: 'config out of range', badInputsTried: cases.length });
    for (const [i, r] of results.entries()) {
      const { args, flag } = cases[i]!;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(flag);
      await expect(stat(join(cluster.root, `config-${i}`)), args.join(' ')).rejects.toThrow(/ENOENT/);
    }
  }, 150_000);

  // The coordinator's own flags are range-checked like the training flags.
  it('fleet coordinator range-checks its own flags (--round-timeout, --heartbeat-timeout, --checkpoint-every, --keep-versions, --evaluator-wait, --port)', async () => {
    const cases = [
      ['--round-timeout', '-5'],
      ['--heartbeat-timeout', '0'],
      ['--checkpoint-every', '-2'],
      ['--keep-versions', '-1'],
      ['--evaluator-wait', '-1'],
      ['--port', '70000'],
    ];
    const outcomes = await Promise.all(
      cases.map(async ([flag, value], i) => {
        const args = [
          'coordinator',
          '--host',
          '127.0.0.1',
          '--port',
          '0',
          ...cluster.coordinatorArgs(`svc-${i}`, { workers: 1 }),
          flag!,
          value!,
        ];
        const p = cluster.track(startFleet(args));
        const started = await Promise.race([
          p.waitFor(/"msg":"listening"/, 30_000).then(
            () => true,
            () => false,
          ),
          p.exited.then(() => false),
        ]);
        if (started) p.child.kill('SIGKILL');
        const exit = await p.exited;
        return { flag: flag!, started, code: exit.code, output: p.lines.join('\n') };
      }),
    );
    for (const o of outcomes) {
      expect(o.started, `${o.flag} accepted`).toBe(false);
      expect(o.code, o.flag).toBe(2);
      expect(o.output, o.flag).toContain(o.flag);
    }
  });

  it.skipIf(!natsServerAvailable())(
    'events: malformed messages on the subjects the evaluator consumes are each reported and skipped; it scores every real checkpoint and the run finishes',
    async () => {
      const server = await startNatsServer();
      servers.push(server);
      const run = 'badevents';
      const samples = 256;
      const c = await cluster.coordinator(run, {
        workers: 1,
        epochs: 2,
        limitTrain: samples,
        checkpointEvery: 4,
        extra: ['--nats', server.url, '--external-evaluator', '--evaluator-wait', '60', '--keep-versions', '100'],
      });
      // Published before anything else of the run reaches the evaluator: it reads them first.
      const envelope = (type: string, data: unknown, over: Record<string, unknown> = {}) =>
        JSON.stringify({ type, run, source: 'chaos:1', seq: 1, time: new Date().toISOString(), data, ...over });
      const checkpoint = samplePayloads.checkpoint;
      const bad: { subject: string; payload: string | Uint8Array }[] = [
        { subject: 'checkpoint', payload: 'not json' },
        { subject: 'checkpoint', payload: new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]) }, // not UTF-8
        { subject: 'checkpoint', payload: '' },
        { subject: 'checkpoint', payload: '[1,2,3]' },
        { subject: 'checkpoint', payload: 'null' },
        { subject: 'checkpoint', payload: envelope('checkpoint', checkpoint).slice(0, 40) }, // torn
        { subject: 'checkpoint', payload: envelope('eval', checkpoint) }, // type is not the subject's
        { subject: 'checkpoint', payload: envelope('checkpoint', checkpoint, { run: 'another-run' }) }, // posing as another run
        { subject: 'checkpoint', payload: envelope('checkpoint', { ...checkpoint, version: -1 }) },
        { subject: 'checkpoint', payload: envelope('checkpoint', { ...checkpoint, version: '7' }) },
        { subject: 'checkpoint', payload: envelope('checkpoint', { ...checkpoint, epoch: 0 }) },
        { subject: 'checkpoint', payload: envelope('checkpoint', { ...checkpoint, trainAccuracy: 1.5 }) },
        { subject: 'checkpoint', payload: envelope('checkpoint', { ...checkpoint, trainLoss: 'NaN' }) },
        // biome-ignore lint/correctness/noPrecisionLoss: 1e400 is Infinity on purpose (JSON.stringify writes null, put back as text)
        { subject: 'checkpoint', payload: envelope('checkpoint', { ...checkpoint, version: 1e400 }).replace('null', '1e400') },
        { subject: 'checkpoint', payload: envelope('checkpoint', (({ version: _v, ...rest }) => rest)(checkpoint)) }, // a field missing
        { subject: 'checkpoint', payload: envelope('checkpoint', checkpoint, { seq: 0 }) },
        { subject: 'checkpoint', payload: envelope('checkpoint', checkpoint, { time: 'yesterday' }) },
        { subject: 'checkpoint', payload: envelope('checkpoint', checkpoint, { source: '' }) },
        { subject: 'checkpoint', payload: envelope('checkpoint', null) },
        { subject: 'checkpoint', payload: `{"__proto__":{"polluted":true},"type":"checkpoint","run":"${run}"}` },
        { subject: 'run.finished', payload: envelope('run.finished', { ...samplePayloads['run.finished'], status: 'done' }) },
        { subject: 'run.finished', payload: envelope('run.finished', { status: 'finished' }) },
        { subject: 'run.finished', payload: '{"type":"run.finished"' },
      ];
      const nc = await connect({ servers: server.url, name: 'chaos-bad-events' });
      try {
        const js = jetstream(nc);
        for (const [i, b] of bad.entries()) await js.publish(`fleet.${run}.${b.subject}`, b.payload, { msgID: `chaos-bad-${i}` });
      } finally {
        await nc.close();
      }
      const evaluator = cluster.track(
        startFleet([
          'evaluator',
          '--coordinator',
          `127.0.0.1:${c.port}`,
          '--run',
          run,
          '--nats',
          server.url,
          '--score-checkpoints',
          'every',
        ]),
      );
      const worker = cluster.worker(c.port, `${run}-w0`);
      const exits = await Promise.all([c.exited, worker.exited, evaluator.exited]);
      expect(
        exits.map((e) => e.code),
        evaluator.lines.slice(-5).join('\n'),
      ).toEqual([0, 0, 0]);

      const skipped = logsWith(evaluator, 'malformed event skipped');
      recordChaos({ scenario: 'malformed events', badInputsTried: bad.length });
      expect(skipped).toHaveLength(bad.length);
      for (const s of skipped) expect(s.err).toMatch(/^malformed event on fleet\.badevents\.(checkpoint|run\.finished): /);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      // Every checkpoint the coordinator wrote was scored once, as if the bad messages had never been there.
      const written = logsWith(c, 'checkpoint written').map((l) => l.version);
      const evaluated = logsWith(evaluator, 'checkpoint evaluated').map((l) => l.version);
      expect(evaluated).toEqual(written);
      const { events } = await readRunEvents(server.url, run);
      expect(events.filter((e) => e.type === 'eval').map((e) => (e.data as { version: number }).version)).toEqual(written);
      const ledger = await readLedger(c.out, 2, samples);
      expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([
        [0, 0],
        [0, 0],
      ]);
    },
  );
});
