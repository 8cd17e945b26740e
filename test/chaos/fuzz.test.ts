/**
 * Chaos: fuzz. Seeded random and mutated messages (bit flips, truncations,
 * insertions, swapped fields, splices of valid messages) sent as raw bytes
 * to every gRPC method of a real coordinator, and as events on the subjects
 * a real evaluator consumes. Each call must end with a status, fast; the
 * services must stay up and change nothing; the run then finishes exactly.
 * A failure prints the seed and the case: FLEET_FUZZ_SEED=<seed> replays it.
 */
import { status as Status } from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkTensorSet, wrapTensorSet } from '../../src/exchange/index.js';
import { decodeEvent } from '../../src/events/index.js';
import { FleetCoordinatorService } from '../../src/rpc/coordinator-service.js';
import {
  ContributionKind,
  DescribeRunRequest,
  FetchParametersRequest,
  HeartbeatRequest,
  AttendRequest,
  LeaveRequest,
  NextRoundRequest,
  RegisterRequest,
  RegisterResponse,
  type ContributionChunk,
} from '../../proto/gen/fleet/v1/coordinator.js';
import { mulberry32 } from '../../src/runtime/seeded-random.js';
import { samplePayloads } from '../fixtures/event-samples.js';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { METHOD_NAMES, RawCoordinator, type CallOutcome, type MethodName } from '../helpers/raw-coordinator.js';

const SEED = Number(process.env.FLEET_FUZZ_SEED ?? 20261128);
/** A worker id no coordinator hands out: mutations of it never reach a real member. */
const FUZZ_WORKER = 'w999999-f0220f';
const CALL_DEADLINE_MS = 5000;

let cluster: ChaosCluster;
const servers: NatsServerHandle[] = [];

beforeAll(async () => {
  cluster = await ChaosCluster.create('fuzz');
});

afterAll(async () => {
  await cluster.dispose();
  for (const s of servers) await s.dispose();
});

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, items: readonly T[]): T => items[int(r, items.length)]!;
const randomBytes = (r: Rand, n: number) => Buffer.from(Array.from({ length: n }, () => int(r, 256)));
const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x0a, 0x12, 0x08];

/** One mutation of `input` (never the input itself unchanged, except by chance), named for the failure message. */
function mutate(r: Rand, input: Buffer, others: readonly Buffer[]): { how: string; bytes: Buffer } {
  const b = Buffer.from(input);
  const at = (extra = 0) => int(r, Math.max(1, b.length + extra));
  switch (int(r, 10)) {
    case 0: {
      const flips = 1 + int(r, 4);
      for (let i = 0; i < flips && b.length > 0; i++) {
        const p = at();
        b[p] = b[p]! ^ (1 << int(r, 8));
      }
      return { how: `${flips} bit flips`, bytes: b };
    }
    case 1: {
      if (b.length > 0) b[at()] = pick(r, INTERESTING);
      return { how: 'an interesting byte', bytes: b };
    }
    case 2:
      return { how: 'truncated', bytes: b.subarray(0, at()) };
    case 3:
      return { how: 'random bytes appended', bytes: Buffer.concat([b, randomBytes(r, 1 + int(r, 32))]) };
    case 4: {
      const p = at(1);
      return { how: 'random bytes inserted', bytes: Buffer.concat([b.subarray(0, p), randomBytes(r, 1 + int(r, 16)), b.subarray(p)]) };
    }
    case 5: {
      const p = at();
      const n = 1 + int(r, 8);
      return { how: 'a slice deleted', bytes: Buffer.concat([b.subarray(0, p), b.subarray(p + n)]) };
    }
    case 6: {
      const p = at();
      const n = 1 + int(r, 8);
      return { how: 'a slice repeated', bytes: Buffer.concat([b.subarray(0, p + n), b.subarray(p, p + n), b.subarray(p + n)]) };
    }
    case 7: {
      // Fields swapped: the two halves of the message exchanged.
      const p = at();
      return { how: 'halves swapped', bytes: Buffer.concat([b.subarray(p), b.subarray(0, p)]) };
    }
    case 8: {
      const other = pick(r, others);
      return {
        how: 'spliced with another message',
        bytes: Buffer.concat([b.subarray(0, at()), other.subarray(int(r, Math.max(1, other.length)))]),
      };
    }
    default: {
      // A field with a varint that never ends, or a length prefix far past the end.
      const tag = pick(r, [0x08, 0x10, 0x12, 0x1a, 0x2a, 0x42]);
      const tail = int(r, 2) === 0 ? Buffer.alloc(11, 0xff) : Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
      return { how: `field 0x${tag.toString(16)} with a broken varint`, bytes: Buffer.concat([b, Buffer.from([tag]), tail]) };
    }
  }
}

describe('chaos: fuzz (real processes)', () => {
  it(`gRPC: random and mutated messages to every method of a live coordinator end with a status, fast; it stays healthy and nothing changes (seed ${SEED})`, async () => {
    const samples = 32;
    const c = await cluster.coordinator('grpcfuzz', {
      workers: 1,
      epochs: 1,
      limitTrain: samples,
      heartbeatTimeoutS: 5,
      roundTimeoutS: 120,
    });
    const raw = new RawCoordinator(`127.0.0.1:${c.port}`, CALL_DEADLINE_MS);
    const me = await raw.register('fuzz-tester');
    const beat = setInterval(() => {
      void raw.heartbeat(me.workerId).catch(() => {});
    }, 500);
    const phantoms: string[] = [];
    const codes = new Map<string, number>();
    let tried = 0;
    try {
      const round0 = await raw.nextRound(me.workerId, 0);
      const params = await raw.fetch(0);
      const before = await raw.describe();
      const contributionMessages = [
        ...chunkTensorSet(wrapTensorSet(params.entries, new Float32Array(params.buffer.byteLength / 4), 1), 8192),
      ].map((chunk) => {
        const part = chunk.part!;
        const message: ContributionChunk =
          part.$case === 'manifest'
            ? {
                part: {
                  $case: 'header',
                  value: {
                    workerId: FUZZ_WORKER,
                    round: 0,
                    version: 1,
                    sampleCount: 16,
                    kind: ContributionKind.CONTRIBUTION_KIND_GRADIENTS,
                    lossSum: 1,
                    correct: 1,
                    trainMs: 1,
                    manifest: part.value,
                  },
                },
              }
            : { part: { $case: 'data', value: part.value } };
        return FleetCoordinatorService.contribute.requestSerialize(message);
      });
      const seeds: Record<MethodName, Buffer> = {
        register: Buffer.from(RegisterRequest.encode({ runId: '', workerName: 'fuzz', backend: 'wasm' }).finish()),
        nextRound: Buffer.from(NextRoundRequest.encode({ workerId: FUZZ_WORKER, fromRound: 0 }).finish()),
        contribute: contributionMessages[0]!,
        fetchParameters: Buffer.from(FetchParametersRequest.encode({ workerId: 'evaluator', version: 999, tensors: [] }).finish()),
        heartbeat: Buffer.from(HeartbeatRequest.encode({ workerId: FUZZ_WORKER, round: 3, stepsDone: 1 }).finish()),
        attend: Buffer.from(AttendRequest.encode({ workerId: FUZZ_WORKER }).finish()),
        leave: Buffer.from(LeaveRequest.encode({ workerId: FUZZ_WORKER, reason: 'fuzz' }).finish()),
        describeRun: Buffer.from(DescribeRunRequest.encode({}).finish()),
      };
      const all = Object.values(seeds);
      const r = mulberry32(SEED);
      const cases: { method: MethodName; how: string; request: Buffer[] }[] = [];
      for (const method of METHOD_NAMES) {
        for (let i = 0; i < 50; i++) {
          if (method === 'contribute') {
            // A stream: the valid messages with one mutated, dropped, repeated or moved; or random messages.
            const messages = [...contributionMessages];
            const k = int(r, messages.length);
            const choice = int(r, 5);
            let how: string;
            if (choice === 0) {
              const m = mutate(r, messages[k]!, all);
              messages[k] = m.bytes;
              how = `message ${k}: ${m.how}`;
            } else if (choice === 1) {
              messages.splice(k, 1);
              how = `message ${k} dropped`;
            } else if (choice === 2) {
              messages.splice(k, 0, messages[k]!);
              how = `message ${k} repeated`;
            } else if (choice === 3) {
              const [m] = messages.splice(k, 1);
              messages.splice(int(r, messages.length + 1), 0, m!);
              how = `message ${k} moved`;
            } else {
              messages.splice(0, messages.length, ...Array.from({ length: 1 + int(r, 4) }, () => randomBytes(r, int(r, 300))));
              how = 'random messages';
            }
            cases.push({ method, how, request: messages });
          } else if (i % 5 === 0) {
            cases.push({ method, how: 'random bytes', request: [randomBytes(r, int(r, i % 2 === 0 ? 64 : 600))] });
          } else {
            const m = mutate(r, seeds[method], all);
            cases.push({ method, how: m.how, request: [m.bytes] });
          }
        }
      }
      // A few more than the 8 MiB message limit, to each method.
      for (const method of METHOD_NAMES)
        cases.push({ method, how: '9 MiB of random bytes', request: [Buffer.alloc(9 * 1024 * 1024, 0x5a)] });

      const outcomes: { method: MethodName; how: string; outcome: CallOutcome }[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < cases.length) {
            const k = cases[next++]!;
            const outcome = await raw.callBytes(k.method, k.request);
            outcomes.push({ method: k.method, how: k.how, outcome });
            if (k.method === 'register' && outcome.code === Status.OK) {
              try {
                phantoms.push(RegisterResponse.decode(outcome.responses[0]!).workerId);
              } catch {
                /* an answer we cannot read is no member */
              }
            }
          }
        }),
      );
      tried = outcomes.length;
      for (const { outcome } of outcomes) codes.set(Status[outcome.code]!, (codes.get(Status[outcome.code]!) ?? 0) + 1);

      // INTERNAL only as grpc-js answers bytes that do not decode as the method's message; never from a handler.
      expect([...new Set(outcomes.filter((o) => o.outcome.code === Status.INTERNAL).map((o) => o.outcome.details))]).toEqual(
        codes.has('INTERNAL') ? ['Error deserializing request'] : [],
      );
      // Every call ended with the server's status, well within its deadline.
      const slow = outcomes.filter((o) => o.outcome.code === Status.DEADLINE_EXCEEDED || o.outcome.ms > CALL_DEADLINE_MS - 500);
      expect(
        slow.map((o) => `${o.method} (${o.how}): ${Status[o.outcome.code]} after ${Math.round(o.outcome.ms)} ms`),
        `seed ${SEED}`,
      ).toEqual([]);
      // Nothing was taken for a contribution, no one's parameters moved, the run is healthy.
      expect(
        outcomes.filter((o) => o.method === 'contribute' && o.outcome.code === Status.OK).map((o) => o.how),
        `seed ${SEED}`,
      ).toEqual([]);
      expect(c.child.exitCode).toBeNull();
      expect(await raw.healthOf('')).toBe('SERVING');
      expect(await raw.healthOf('fleet.v1.Coordinator')).toBe('SERVING');
      const after = await raw.describe();
      expect([after.version, after.retainedVersions]).toEqual([before.version, before.retainedVersions]);
      // No handler failed on its own account: every refusal was an error it knows (no "... failed" at error level).
      expect(
        c.lines.filter((l) => l.includes('"level":50')),
        `seed ${SEED}`,
      ).toEqual([]);

      // Workers a mutated Register happened to add leave again; the run then goes on exactly.
      for (const id of phantoms) await raw.leave(id, 'fuzz phantom');
      const accepted = await raw.contribute(contributionFor(me.workerId, round0.round, round0.version, contributionMessages));
      expect(Status[accepted.code], accepted.details).toBe('OK');
      const round1 = await raw.nextRound(me.workerId, 1);
      expect(round1.batches.flatMap((b) => b.indices)).toHaveLength(16);
      const ok = await raw.contribute(contributionFor(me.workerId, round1.round, round1.version, contributionMessages));
      expect(Status[ok.code], ok.details).toBe('OK');
      expect((await raw.nextRound(me.workerId, 2)).finished).toBe(true);
    } finally {
      clearInterval(beat);
      raw.close();
    }
    expect((await c.exited).code).toBe(0);
    const metrics = JSON.parse((await readFile(join(c.out, 'metrics.jsonl'), 'utf8')).trim()) as {
      trainSamples: number;
      trainLoss: number;
    };
    expect([metrics.trainSamples, metrics.trainLoss]).toEqual([samples, 0]);
    const ledger = await readLedger(c.out, 1, samples);
    recordChaos({ scenario: 'gRPC fuzz', badInputsTried: tried, samplesLost: ledger.lost, samplesRepeated: ledger.repeated });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([[0, 0]]);
    // For the log of a run: how the fuzz cases ended.
    console.log(
      `gRPC fuzz (seed ${SEED}): ${tried} calls, ${phantoms.length} phantom registrations; statuses ${JSON.stringify(Object.fromEntries(codes))}`,
    );
  });

  it.skipIf(!natsServerAvailable())(
    `events: random and mutated events on the evaluator's subjects, before and during a run, are each reported and skipped; every real checkpoint is scored once (seed ${SEED})`,
    async () => {
      const server = await startNatsServer();
      servers.push(server);
      const run = 'eventfuzz';
      const samples = 256;
      const epochs = 3;
      const c = await cluster.coordinator(run, {
        workers: 1,
        epochs,
        limitTrain: samples,
        checkpointEvery: 4,
        extra: ['--nats', server.url, '--external-evaluator', '--evaluator-wait', '60', '--keep-versions', '100'],
      });
      const r = mulberry32(SEED + 1);
      const valid = (type: 'checkpoint' | 'run.finished') => ({
        type,
        run,
        source: 'fuzz:1',
        seq: 1 + int(r, 5),
        time: new Date().toISOString(),
        data: { ...samplePayloads[type] },
      });
      const randomValue = (depth = 0): unknown => {
        switch (int(r, depth > 2 ? 5 : 7)) {
          case 0:
            return null;
          case 1:
            return r() < 0.5;
          case 2:
            return pick(r, [0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 0.5]);
          case 3:
            return pick(r, ['', 'x', run, 'checkpoint', 'finished', '2026-11-28T00:00:00Z', '\u0000', '\ud800']);
          case 4:
            return int(r, 1000);
          case 5:
            return Array.from({ length: int(r, 4) }, () => randomValue(depth + 1));
          default:
            return Object.fromEntries(
              Array.from({ length: int(r, 4) }, (_, i) => [
                pick(r, ['version', 'type', 'data', 'run', 'seq', `k${i}`]),
                randomValue(depth + 1),
              ]),
            );
        }
      };
      /** A candidate: a JSON-level mutation of a valid event, bytes mutated, or random JSON. */
      const candidate = (): { subject: string; bytes: Buffer } => {
        const type = r() < 0.8 ? 'checkpoint' : 'run.finished';
        const subject = `fleet.${run}.${type}`;
        const e = valid(type) as Record<string, unknown> & { data: Record<string, unknown> };
        switch (int(r, 5)) {
          case 0: {
            const k = pick(r, Object.keys(e.data));
            e.data[k] = randomValue();
            break;
          }
          case 1: {
            const k = pick(r, Object.keys(e));
            if (r() < 0.5) delete e[k];
            else e[k] = randomValue();
            break;
          }
          case 2: {
            const keys = Object.keys(e.data);
            const [x, y] = [pick(r, keys), pick(r, keys)];
            [e.data[x], e.data[y]] = [e.data[y], e.data[x]];
            break;
          }
          case 3:
            return { subject, bytes: mutate(r, Buffer.from(JSON.stringify(e)), [Buffer.from(JSON.stringify(valid('checkpoint')))]).bytes };
          default:
            return { subject, bytes: Buffer.from(JSON.stringify(randomValue())) };
        }
        return { subject, bytes: Buffer.from(JSON.stringify(e)) };
      };
      // Only what the contract refuses: a mutant that is still a valid event would be a forged
      // event (a matter of who may publish), not bad input.
      const malformed: { subject: string; bytes: Buffer }[] = [];
      let validMutants = 0;
      while (malformed.length < 160) {
        const k = candidate();
        try {
          decodeEvent(k.subject, k.bytes);
          validMutants++;
        } catch {
          malformed.push(k);
        }
      }

      const nc = await connect({ servers: server.url, name: 'chaos-fuzz-events' });
      const js = jetstream(nc);
      // All at once (acks awaited together): the second batch must be in the stream before run.finished.
      const publish = async (batch: typeof malformed, offset: number) => {
        await Promise.all(batch.map((m, i) => js.publish(m.subject, m.bytes, { msgID: `fuzz-${SEED}-${offset + i}` })));
      };
      try {
        // Half before anything of the run reaches the evaluator, half among the real checkpoints.
        await publish(malformed.slice(0, 80), 0);
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
        await evaluator.waitFor(/"msg":"checkpoint evaluated"/, 60_000);
        await publish(malformed.slice(80), 80);
        const exits = await Promise.all([c.exited, worker.exited, evaluator.exited]);
        expect(
          exits.map((e) => e.code),
          evaluator.lines.slice(-5).join('\n'),
        ).toEqual([0, 0, 0]);

        const skipped = logsWith(evaluator, 'malformed event skipped');
        recordChaos({ scenario: 'event fuzz', badInputsTried: malformed.length });
        expect(skipped.length, `seed ${SEED}`).toBe(malformed.length);
        expect(
          evaluator.lines.filter((l) => l.includes('"level":50')),
          `seed ${SEED}`,
        ).toEqual([]);
        const written = logsWith(c, 'checkpoint written').map((l) => l.version);
        expect(logsWith(evaluator, 'checkpoint evaluated').map((l) => l.version)).toEqual(written);
        const ledger = await readLedger(c.out, epochs, samples);
        expect(ledger.reports.map((x) => [x.missingCount, x.repeatedCount])).toEqual([
          [0, 0],
          [0, 0],
          [0, 0],
        ]);
        console.log(`event fuzz (seed ${SEED}): ${malformed.length} malformed events sent (${validMutants} still-valid mutants not sent)`);
      } finally {
        await nc.close();
      }
    },
  );
});

/** The zero-gradient contribution of `worker` for `round` (the messages' data, a header of its own). */
function contributionFor(worker: string, round: number, version: number, encoded: readonly Buffer[]): ContributionChunk[] {
  const messages = encoded.map((b) => FleetCoordinatorService.contribute.requestDeserialize(b));
  const first = messages[0]!.part;
  if (first?.$case !== 'header') throw new Error('no header');
  return [
    { part: { $case: 'header', value: { ...first.value, workerId: worker, round, version, lossSum: 0, correct: 0 } } },
    ...messages.slice(1),
  ];
}
