import { makeGenericClientConstructor, status as Status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planTraining } from '../../../src/runtime/config/train-config.js';
import {
  TlsFileError,
  UNAUTHENTICATED_DETAILS,
  bearerMatches,
  channelCredentialsFrom,
  clientChannelFrom,
  parseGrpcSecurity,
  serverCredentialsFrom,
  type GrpcSecurity,
  type RefusedCall,
} from '../../../src/rpc/security/index.js';
import { RoundController } from '../../../services/coordinator/rounds/round-controller.js';
import { startCoordinatorServer } from '../../../services/coordinator/rpc/coordinator-server.js';
import { EpochSampler } from '../../../services/coordinator/sampler/index.js';
import { createParameterSource } from '../../../services/evaluator/client/parameter-source.js';
import { createCoordinatorClient } from '../../../services/worker/client/grpc-coordinator-client.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { makeTestCertificates, type TestCertificates } from '../../helpers/test-certificates.js';
import { testConfig } from '../../helpers/test-config.js';

/**
 * The real coordinator service (over a RoundController with a 9-float
 * "model") on 127.0.0.1:0, called through the real worker and evaluator
 * clients, with each combination of token and TLS.
 */

const TOKEN = 'test-token-3f9a0c27d1e84b56';
const LAYOUT: WeightSlice[] = [
  { name: 'dense/bias', shape: [3], offset: 0, length: 3, trainable: true },
  { name: 'dense/kernel', shape: [2, 3], offset: 3, length: 6, trainable: true },
];
const FLOATS = 9;
const silent = pino({ level: process.env.TEST_LOG ?? 'silent' });
const config = testConfig({ runId: 'secure', lr: 0.1, dataDir: '/nonexistent', outDir: '/nonexistent' });

let dir: string;
let certs: TestCertificates;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-grpc-security-'));
  certs = await makeTestCertificates(dir);
});

afterAll(async () => {
  for (const stop of stops) await stop();
  await rm(dir, { recursive: true, force: true });
});

async function startCoordinator(security: GrpcSecurity) {
  const controller = new RoundController({
    config,
    plan: planTraining(config, 16),
    layout: LAYOUT,
    params: new Float32Array(FLOATS).fill(0.5),
    momentum: new Float32Array(FLOATS),
    sampler: new EpochSampler({ seed: 1, count: 16, batchSize: 4, syncEvery: 1 }),
    expectedWorkers: 1,
    roundTimeoutMs: 60_000,
    heartbeatTimeoutMs: 60_000,
    checkpointEveryRounds: 0,
    log: silent,
    hooks: { onEpochEnd: async () => {}, onCheckpoint: async () => {} },
  });
  const refused: RefusedCall[] = [];
  const server = await startCoordinatorServer(
    controller,
    { config, layout: LAYOUT, log: silent },
    {
      host: '127.0.0.1',
      port: 0,
      heartbeatIntervalMs: 1000,
      security,
      onUnauthenticated: (c) => refused.push(c),
    },
  );
  const stop = async () => {
    controller.close('test over');
    await server.shutdown(500);
  };
  stops.push(stop);
  return { controller, address: `127.0.0.1:${server.port}`, refused };
}

/** The worker's client and the evaluator's source, as their services build them. */
async function clientsOf(address: string, security: GrpcSecurity) {
  const channel = await clientChannelFrom(security);
  const worker = createCoordinatorClient(address, () => LAYOUT, {
    callTimeoutMs: 5000,
    roundWaitTimeoutMs: 5000,
    transferTimeoutMs: 5000,
    channel,
  });
  const evaluator = createParameterSource(address, { callTimeoutMs: 5000, transferTimeoutMs: 5000, channel });
  return {
    worker,
    evaluator,
    close: () => {
      worker.close();
      evaluator.close();
    },
  };
}

/** How a call ended: 'OK' or its status name. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (err) {
    const code = (err as ServiceError).code;
    return code === undefined ? `not a gRPC error: ${(err as Error).message}` : Status[code]!;
  }
}

/** describeRun, the evaluator's first call: enough to see whether a channel gets through. */
async function describeOutcome(address: string, security: GrpcSecurity): Promise<string> {
  const c = await clientsOf(address, security);
  try {
    return await outcome(c.evaluator.describe());
  } finally {
    c.close();
  }
}

const HealthClient = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
/** grpc.health.v1 Check as a Kubernetes probe sends it: no token. */
function healthOf(address: string, credentials: ChannelCredentials, service = ''): Promise<string> {
  const client = new HealthClient(address, credentials);
  return new Promise((resolve, reject) => {
    (client as unknown as { check(req: unknown, opts: unknown, cb: (e: ServiceError | null, r: { status: string }) => void): void }).check(
      { service },
      { deadline: new Date(Date.now() + 5000) },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  });
}

describe('bearer token on every call', () => {
  it('refuses each method without the token or with a wrong one (UNAUTHENTICATED, nothing changes), serves it with the right one', async () => {
    const { controller, address, refused } = await startCoordinator({ tls: null, token: TOKEN });
    const good = await clientsOf(address, { tls: null, token: TOKEN });
    const { workerId } = await good.worker.register({ runId: 'secure', workerName: 'good', backend: 'cpu' });
    const work = (await good.worker.nextRound(workerId, 0))!;
    const samples = work.batches.reduce((n, b) => n + b.indices.length, 0);
    const versionBefore = controller.currentVersion;

    for (const token of [null, 'wrong-token', `${TOKEN}x`]) {
      const bad = await clientsOf(address, { tls: null, token });
      const attempts = {
        register: bad.worker.register({ runId: 'secure', workerName: 'intruder', backend: 'cpu' }),
        nextRound: bad.worker.nextRound(workerId, 0),
        fetchParameters: bad.worker.fetchParameters(workerId, work.version),
        contribute: bad.worker.contribute({
          workerId,
          round: work.round,
          version: work.version,
          kind: 'gradients',
          sampleCount: samples,
          lossSum: 1,
          correct: 1,
          trainMs: 1,
          values: new Float32Array(FLOATS).fill(1e3),
          layout: LAYOUT,
        }),
        heartbeat: bad.worker.heartbeat(workerId, work.round),
        leave: bad.worker.leave(workerId, 'forged'),
        describeRun: bad.evaluator.describe(),
      };
      const results = await Promise.all(
        Object.values(attempts).map(async (p) => {
          try {
            await p;
            return 'OK';
          } catch (err) {
            return `${Status[(err as ServiceError).code]}: ${(err as ServiceError).details}`;
          }
        }),
      );
      bad.close();
      expect(Object.fromEntries(Object.keys(attempts).map((k, i) => [k, results[i]])), `token ${token}`).toEqual(
        Object.fromEntries(Object.keys(attempts).map((k) => [k, `UNAUTHENTICATED: ${UNAUTHENTICATED_DETAILS}`])),
      );
    }
    // Nothing reached the controller: no intruder, the member still there, no contribution applied.
    expect(controller.memberCount()).toBe(1);
    expect(controller.currentVersion).toBe(versionBefore);
    expect(refused).toHaveLength(21);
    expect(new Set(refused.map((r) => r.method))).toEqual(
      new Set(
        ['Register', 'NextRound', 'FetchParameters', 'Contribute', 'Heartbeat', 'Leave', 'DescribeRun'].map(
          (m) => `/fleet.v1.Coordinator/${m}`,
        ),
      ),
    );
    expect(refused.filter((r) => r.reason === 'missing')).toHaveLength(7);
    expect(refused.every((r) => r.peer.includes('127.0.0.1'))).toBe(true);

    // The right token: every method works, and the contribution is applied.
    const fetched = await good.worker.fetchParameters(workerId, work.version);
    expect(fetched.values.slice(0, 3)).toEqual(new Float32Array([0.5, 0.5, 0.5]));
    const accepted = await good.worker.contribute({
      workerId,
      round: work.round,
      version: work.version,
      kind: 'gradients',
      sampleCount: samples,
      lossSum: 1,
      correct: 1,
      trainMs: 1,
      values: new Float32Array(FLOATS).fill(0.1),
      layout: LAYOUT,
    });
    expect(accepted.nextVersion).toBe(versionBefore + 1);
    expect(await good.worker.heartbeat(workerId, work.round)).toBe(true);
    expect((await good.evaluator.describe()).runId).toBe('secure');
    await good.worker.leave(workerId, 'done');
    expect(controller.memberCount()).toBe(0);
    expect(refused).toHaveLength(21);
    good.close();
  });

  it('leaves the standard health service open (Kubernetes probes carry no token)', async () => {
    const { address, refused } = await startCoordinator({ tls: null, token: TOKEN });
    const { credentials } = await clientChannelFrom({ tls: null, token: null });
    expect(await healthOf(address, credentials)).toBe('SERVING');
    expect(await healthOf(address, credentials, 'fleet.v1.Coordinator')).toBe('SERVING');
    expect(refused).toHaveLength(0);
  });

  it('compares the Authorization value: Bearer scheme (any case), exact token', () => {
    expect(bearerMatches(TOKEN, `Bearer ${TOKEN}`)).toBe(true);
    expect(bearerMatches(TOKEN, `bearer ${TOKEN}`)).toBe(true);
    expect(bearerMatches(TOKEN, TOKEN)).toBe(false);
    expect(bearerMatches(TOKEN, `Basic ${TOKEN}`)).toBe(false);
    expect(bearerMatches(TOKEN, `Bearer ${TOKEN.slice(0, -1)}`)).toBe(false);
    expect(bearerMatches(TOKEN, 'Bearer ')).toBe(false);
    expect(bearerMatches(TOKEN, undefined)).toBe(false);
  });
});

describe('TLS and mutual TLS', () => {
  it('a TLS server: a client trusting its CA gets through; plaintext, the wrong CA or the wrong server name do not', async () => {
    const { address } = await startCoordinator({ tls: { cert: certs.serverCert, key: certs.serverKey }, token: null });
    expect(await describeOutcome(address, { tls: { ca: certs.ca }, token: null })).toBe('OK');
    expect(await describeOutcome(address, { tls: { ca: certs.ca }, token: null, serverName: 'localhost' })).toBe('OK');
    expect(await describeOutcome(address, { tls: null, token: null })).toBe('UNAVAILABLE');
    expect(await describeOutcome(address, { tls: { ca: certs.otherCa }, token: null })).toBe('UNAVAILABLE');
    // The system roots do not know the test CA.
    expect(await describeOutcome(address, { tls: {}, token: null })).toBe('UNAVAILABLE');
    expect(await describeOutcome(address, { tls: { ca: certs.ca }, token: null, serverName: 'not-the-coordinator.example' })).toBe(
      'UNAVAILABLE',
    );
  });

  it('a mutual-TLS server with a token refuses clients without a certificate or with one from another CA, and a right certificate without the token', async () => {
    const { controller, address, refused } = await startCoordinator({
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
      token: TOKEN,
    });
    const client = { cert: certs.clientCert, key: certs.clientKey };
    expect(await describeOutcome(address, { tls: { ca: certs.ca, ...client }, token: TOKEN })).toBe('OK');
    expect(await describeOutcome(address, { tls: { ca: certs.ca }, token: TOKEN })).toBe('UNAVAILABLE');
    expect(
      await describeOutcome(address, { tls: { ca: certs.ca, cert: certs.otherClientCert, key: certs.otherClientKey }, token: TOKEN }),
    ).toBe('UNAVAILABLE');
    expect(await describeOutcome(address, { tls: null, token: TOKEN })).toBe('UNAVAILABLE');
    expect(await describeOutcome(address, { tls: { ca: certs.ca, ...client }, token: null })).toBe('UNAUTHENTICATED');

    // A register from a client without a certificate never reaches the service.
    const noCert = await clientsOf(address, { tls: { ca: certs.ca }, token: TOKEN });
    expect(await outcome(noCert.worker.register({ runId: '', workerName: 'intruder', backend: 'cpu' }))).toBe('UNAVAILABLE');
    noCert.close();
    expect(controller.memberCount()).toBe(0);
    expect(refused).toHaveLength(1); // only the certified call without a token got as far as the token check

    // Health needs the client certificate too (TLS comes first), but no token.
    const { credentials } = await clientChannelFrom({ tls: { ca: certs.ca, ...client }, token: null });
    expect(await healthOf(address, credentials)).toBe('SERVING');
  });
});

describe('security flags', () => {
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e as Error & { flag?: string; path?: string; problems?: { flag: string }[] },
    );
    expect(err, 'should have been refused').not.toBeNull();
    return err!;
  };

  it('an unreadable or invalid file is an error naming the flag and the path', async () => {
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    const missing = join(dir, 'missing', 'cert.pem');

    const notFound = await refusal(parseGrpcSecurity({ tlsCert: missing, tlsKey: certs.serverKey }, 'server'));
    expect(notFound).toBeInstanceOf(TlsFileError);
    expect(notFound).toMatchObject({ flag: '--tls-cert', path: missing });
    expect(notFound.message).toContain('--tls-cert');
    expect(notFound.message).toContain(missing);
    expect(notFound.message).toContain('ENOENT');

    expect(
      await refusal(parseGrpcSecurity({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsCa: garbage }, 'server')),
    ).toMatchObject({ flag: '--tls-ca', path: garbage, reason: expect.stringContaining('not a PEM certificate') });
    expect(await refusal(parseGrpcSecurity({ tlsCert: certs.serverCert, tlsKey: garbage }, 'server'))).toMatchObject({
      flag: '--tls-key',
      path: garbage,
    });
    expect(await refusal(parseGrpcSecurity({ tlsCert: certs.clientCert, tlsKey: certs.serverKey }, 'client'))).toMatchObject({
      flag: '--tls-key',
      path: certs.serverKey,
      reason: expect.stringContaining('does not belong'),
    });
    expect(await refusal(parseGrpcSecurity({ token: undefined, tokenFile: missing }, 'client'))).toMatchObject({
      flag: '--token-file',
      path: missing,
    });
    // The credential builders check on their own too (they are used without the parser).
    expect(await refusal(serverCredentialsFrom({ cert: missing, key: certs.serverKey }))).toMatchObject({
      flag: '--tls-cert',
      path: missing,
    });
    expect(await refusal(channelCredentialsFrom({ ca: garbage }))).toMatchObject({ flag: '--tls-ca', path: garbage });
  });

  it('refuses incomplete or conflicting flags, naming the flag, and never prints the token', async () => {
    const flagOf = async (p: Promise<unknown>) => ((await refusal(p)) as { problems: { flag: string }[] }).problems[0]!.flag;
    expect(await flagOf(parseGrpcSecurity({ tlsKey: certs.serverKey }, 'server'))).toBe('--tls-cert');
    expect(await flagOf(parseGrpcSecurity({ tlsCert: certs.serverCert, tlsCa: certs.ca }, 'server'))).toBe('--tls-key');
    expect(await flagOf(parseGrpcSecurity({ tlsCert: certs.clientCert }, 'client'))).toBe('--tls-key');
    expect(await flagOf(parseGrpcSecurity({ token: TOKEN, tokenFile: join(dir, 'token') }, 'server'))).toBe('--token-file');
    expect(await flagOf(parseGrpcSecurity({ token: '' }, 'server'))).toBe('--token');
    const spaced = await refusal(parseGrpcSecurity({ token: 'secret with spaces' }, 'server'));
    expect(spaced.message).not.toContain('secret');
  });

  it('parses what the flags mean: mutual TLS on the server, TLS implied on clients, the token file trimmed', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    expect(await parseGrpcSecurity({}, 'server')).toEqual({ tls: null, token: null });
    expect(await parseGrpcSecurity({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsCa: certs.ca, tokenFile }, 'server')).toEqual({
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
      token: TOKEN,
      // Kept so the server re-reads it when it changes (token rotation).
      tokenFile,
    });
    expect(await parseGrpcSecurity({ tls: true }, 'client')).toEqual({ tls: {}, token: null });
    expect(await parseGrpcSecurity({ tlsServerName: 'coordinator.fleet' }, 'client')).toEqual({
      tls: {},
      token: null,
      serverName: 'coordinator.fleet',
    });
    expect(await parseGrpcSecurity({ tlsCa: certs.ca, token: TOKEN }, 'client')).toEqual({ tls: { ca: certs.ca }, token: TOKEN });
  });
});
