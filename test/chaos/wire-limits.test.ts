/**
 * Chaos: resource limits on the wire. A real coordinator trains a real
 * worker pair while raw clients misbehave: many streams from one
 * connection, an oversized message, an upload longer than its manifest, one
 * from no member, one that trickles data forever, and sockets that connect
 * and never call. Each is refused or cut with its status, the pair finishes
 * its run with the ledger exact, and the coordinator's memory stays bounded.
 * The limits are shrunk for the test through FLEET_WIRE_LIMITS_JSON
 * (test-only): a connection must make its first call within 1.5 s, 40
 * connections at most, an upload must finish within 3 s of its header.
 */
import { credentials, makeGenericClientConstructor, status as Status, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkTensorSet, wrapTensorSet, type TensorSet } from '../../src/exchange/index.js';
import { ContributionKind, type ContributionChunk, type ContributionHeader } from '../../proto/gen/fleet/v1/coordinator.js';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { RawCoordinator } from '../helpers/raw-coordinator.js';
import { FleetCoordinatorService } from '../../src/rpc/coordinator-service.js';
import { clientTokenInterceptor } from '../../src/rpc/security/index.js';

const CoordinatorClient = makeGenericClientConstructor(FleetCoordinatorService, 'fleet.v1.Coordinator');

/** DescribeRun with `token` on a connection of its own: how it ended. */
function describeWith(port: number, token: string): Promise<string> {
  const client = new CoordinatorClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    interceptors: [clientTokenInterceptor(token)],
    'grpc.use_local_subchannel_pool': 1,
  }) as unknown as { describeRun(req: object, opts: object, cb: (e: ServiceError | null) => void): void; close(): void };
  return new Promise<string>((resolve) => {
    client.describeRun({}, { deadline: new Date(Date.now() + 5000) }, (err) => resolve(err ? Status[err.code] : 'OK'));
  }).finally(() => client.close());
}

/** Replaces the file's content in one step, as a Kubernetes Secret update does (a new file swapped in). */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

let cluster: ChaosCluster;

beforeAll(async () => {
  cluster = await ChaosCluster.create('wire-limits');
});

afterAll(async () => {
  await cluster.dispose();
});

const LIMITS = { firstCallMs: 1500, maxConnections: 40, contributionUploadMs: 3000 };

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** The header then data chunks of `set`, as a worker sends them. */
function contribution(set: TensorSet, header: Omit<ContributionHeader, 'manifest'>, chunkBytes = 64 * 1024): ContributionChunk[] {
  return [...chunkTensorSet(set, chunkBytes)].map((c): ContributionChunk => {
    const part = c.part!;
    return part.$case === 'manifest'
      ? { part: { $case: 'header', value: { ...header, manifest: part.value } } }
      : { part: { $case: 'data', value: part.value } };
  });
}

const data = (bytes: number): ContributionChunk => ({ part: { $case: 'data', value: Buffer.alloc(bytes) } });

/** Resolves once every socket has closed (the server closed it: the test never does). */
function allClosed(sockets: Socket[]): Promise<void> {
  return Promise.all(
    sockets.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve())))),
  ).then(() => {});
}

describe('chaos: resource limits on the wire (real processes)', () => {
  it('many streams, an oversized message, an endless, a foreign and a trickling upload, and silent connections are refused or cut with their status while a worker pair finishes its run; the coordinator stays within a memory bound', async () => {
    const epochs = 3;
    const samples = 256;
    const c = await cluster.coordinator('abuse', {
      workers: 2,
      epochs,
      limitTrain: samples,
      heartbeatTimeoutS: 3,
      roundTimeoutS: 30,
      env: { FLEET_WIRE_LIMITS_JSON: JSON.stringify(LIMITS) },
    });
    // Steps held 60 ms (test-only FLEET_FAULT_STEP_BLOCK_MS): the run outlasts the abuse.
    const workers = [0, 1].map((i) => cluster.worker(c.port, `abuse-w${i}`, [], { FLEET_FAULT_STEP_BLOCK_MS: '60' }));
    await c.waitFor(/"msg":"round closed"/);
    const memberId = String(logsWith(c, 'worker registered')[0]!.worker);
    const pid = c.child.pid!;
    const raw = new RawCoordinator(`127.0.0.1:${c.port}`, 15_000);
    const crowd = new RawCoordinator(`127.0.0.1:${c.port}`, 15_000, true);
    const model = await raw.fetch(0);
    const modelBytes = model.buffer.byteLength;
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssBytes(pid));
      } catch {
        /* the coordinator has exited */
      }
    }, 100);
    const header = (workerId: string): Omit<ContributionHeader, 'manifest'> => ({
      workerId,
      round: 0,
      version: 1,
      sampleCount: 16,
      kind: ContributionKind.CONTRIBUTION_KIND_GRADIENTS,
      lossSum: 0,
      correct: 0,
      trainMs: 1,
    });
    const zeros = wrapTensorSet(model.entries, new Float32Array(modelBytes / 4), 1);
    const [head] = contribution(zeros, header(memberId));
    let tried = 0;
    const abuseStart = Date.now();
    let abuseEnd = abuseStart;
    try {
      // Many streams from one connection: two Contribute calls held open (no header yet), the rest refused at once.
      const streams = Array.from({ length: 10 }, () => crowd.openContribute({ deadlineMs: 20_000 }));
      const [held, refused] = [streams.slice(0, 2), streams.slice(2)];
      for (const s of refused) {
        const o = await s.outcome;
        expect([Status[o.code], o.details]).toEqual([
          'RESOURCE_EXHAUSTED',
          'too many open Contribute calls from this connection (at most 2)',
        ]);
      }
      tried += streams.length;

      // Silent connections (TCP, never a byte of HTTP/2), more than the server takes: over the cap closed on
      // arrival, the others when their first call has not come (the idle limit stays at its 5 minutes). Started now so they are cut while the uploads below run.
      const sockets = Array.from({ length: 50 }, () => {
        const s = connect(c.port, '127.0.0.1');
        s.on('error', () => {});
        s.resume(); // reading, so the server's close is seen
        return s;
      });
      tried += sockets.length;

      // A message larger than any chunk: refused from its length prefix.
      const oversized = await raw.contribute([head!, data(2 * 1024 * 1024)]);
      expect(Status[oversized.code]).toBe('RESOURCE_EXHAUSTED');
      expect(oversized.details).toMatch(/larger than max/);
      // An upload that goes on past its manifest's length: refused at the chunk that goes over.
      const endless = await raw.contribute([head!, ...Array.from({ length: Math.ceil(modelBytes / 65536) + 8 }, () => data(65536))]);
      expect([Status[endless.code], endless.errorClass]).toEqual(['INVALID_ARGUMENT', 'TensorSetOverflowError']);
      // From no member: refused at its header, before it takes the contribution slot.
      const foreign = await raw.contribute(contribution(zeros, header('w999999-nobody')));
      expect([Status[foreign.code], foreign.errorClass]).toEqual(['NOT_FOUND', 'UnknownWorkerError']);
      // A trickle: a chunk every 500 ms (under the 3 s idle limit), forever; cut at the upload deadline.
      const trickle = raw.openContribute({ deadlineMs: 30_000 });
      trickle.write(head!);
      const drip = setInterval(() => trickle.write(data(1024)), 500);
      const cut = await trickle.outcome.finally(() => clearInterval(drip));
      expect([Status[cut.code], cut.errorClass]).toEqual(['DEADLINE_EXCEEDED', 'UploadDeadlineError']);
      tried += 4;

      // The held streams never sent a header: cut by the idle limit (the heartbeat timeout), their slots freed.
      for (const s of held) expect(Status[(await s.outcome).code]).toBe('DEADLINE_EXCEEDED');
      const again = crowd.openContribute({ deadlineMs: 20_000 });
      again.cancel();
      expect(Status[(await again.outcome).code]).toBe('CANCELLED');
      await allClosed(sockets);
      expect(logsWith(c, 'connection refused: too many open').length).toBeGreaterThan(0);
      abuseEnd = Date.now();
    } finally {
      clearInterval(sampler);
      raw.close();
      crowd.close();
    }
    // The pair finishes the run, nothing lost or applied twice.
    const exits = await Promise.all([c, ...workers].map((p) => p.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    // ...and kept closing rounds while the abuse went on.
    const during = logsWith(c, 'round closed').filter((l) => (l.time as number) >= abuseStart && (l.time as number) <= abuseEnd);
    expect(during.length).toBeGreaterThan(0);
    const ledger = await readLedger(c.out, epochs, samples);
    expect([ledger.lost, ledger.repeated]).toEqual([0, 0]);
    // Memory: a generous bound, not a measurement (bench/wire-abuse.ts measures).
    const grown = peak - baseline;
    expect(grown).toBeLessThan(64 * 1024 * 1024 + 8 * modelBytes);
    recordChaos({
      scenario: 'wire abuse: streams, oversized, endless, foreign and trickling uploads, silent connections',
      badInputsTried: tried,
    });
  }, 60_000);

  it('a token rotated mid-run (the file replaced): the workers go on, the old token is accepted during the window and refused after it, the new one accepted', async () => {
    const epochs = 3;
    const samples = 256;
    const tokenFile = join(cluster.root, 'token');
    await writeFile(tokenFile, 'old-token-1\n');
    const c = await cluster.coordinator('rotate', {
      workers: 2,
      epochs,
      limitTrain: samples,
      heartbeatTimeoutS: 3,
      extra: ['--token-file', tokenFile, '--token-rotation-window', '2'],
    });
    // Steps held 150 ms (test-only FLEET_FAULT_STEP_BLOCK_MS): the run outlasts the rotation window.
    const workers = [0, 1].map((i) =>
      cluster.worker(c.port, `rotate-w${i}`, ['--token-file', tokenFile], { FLEET_FAULT_STEP_BLOCK_MS: '150' }),
    );
    await c.waitFor(/"msg":"round closed"/);
    expect(await describeWith(c.port, 'old-token-1')).toBe('OK');
    await replaceFile(tokenFile, 'new-token-2\n');
    await c.waitFor(/"msg":"token rotated"/);
    const rotatedAt = Date.now();
    // Within the window (2 s from the rotation) both are accepted; the call is made at once so it lands inside.
    const [oldDuring, newDuring] = await Promise.all([describeWith(c.port, 'old-token-1'), describeWith(c.port, 'new-token-2')]);
    const checkedWithin = Date.now() - rotatedAt < 2000;
    if (checkedWithin) expect(oldDuring).toBe('OK');
    expect(newDuring).toBe('OK');
    // After the window: the old token is refused, the new one accepted.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, rotatedAt + 2500 - Date.now())));
    expect(await describeWith(c.port, 'old-token-1')).toBe('UNAUTHENTICATED');
    expect(await describeWith(c.port, 'new-token-2')).toBe('OK');
    // The workers followed the file: the run finishes, nothing lost, and the coordinator kept closing rounds after the window.
    const exits = await Promise.all([c, ...workers].map((p) => p.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    const ledger = await readLedger(c.out, epochs, samples);
    expect([ledger.lost, ledger.repeated]).toEqual([0, 0]);
    const after = logsWith(c, 'round closed').filter((l) => (l.time as number) > rotatedAt + 2000);
    expect(after.length).toBeGreaterThan(0);
    recordChaos({ scenario: 'token rotated mid-run', unauthenticatedTried: 1, unauthenticatedAccepted: 0 });
  }, 60_000);
});
