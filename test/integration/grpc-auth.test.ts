import { makeGenericClientConstructor, status as Status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientChannelFrom, type GrpcSecurity } from '../../src/rpc/security/index.js';
import { createParameterSource } from '../../services/evaluator/client/parameter-source.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { runFleet } from '../helpers/run-fleet.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';
import { samplesOf, scrape } from '../helpers/prometheus-text.js';

/**
 * A real `fleet coordinator` with mutual TLS and a token, real `fleet worker`
 * processes with right and wrong credentials. Intruders are refused before
 * anything happens (no member, no log line of a registration), and the
 * worker with the right credentials trains the run to its end.
 */

const TOKEN = 'fleet-itest-6d0f1b9e2a7c4835';
let root: string;
let dataDir: string;
let certs: TestCertificates;
let tokenFile: string;
const started: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-grpc-auth-'));
  dataDir = join(root, 'data');
  tokenFile = join(root, 'token');
  [certs] = await Promise.all([
    makeTestCertificates(root),
    writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 128, testCount: 50, pattern: 'learnable', seed: 5 }),
    writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 }),
  ]);
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

function track<T extends FleetProcess>(p: T): T {
  started.push(p);
  return p;
}

const HealthClient = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
function healthOf(address: string, credentials: ChannelCredentials): Promise<string> {
  const client = new HealthClient(address, credentials);
  return new Promise((resolve, reject) => {
    (client as unknown as { check(req: unknown, opts: unknown, cb: (e: ServiceError | null, r: { status: string }) => void): void }).check(
      { service: 'fleet.v1.Coordinator' },
      { deadline: new Date(Date.now() + 5000) },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  });
}

/** DescribeRun from this process: 'OK' or the status name. */
async function describeOutcome(address: string, security: GrpcSecurity): Promise<string> {
  const source = createParameterSource(address, {
    callTimeoutMs: 5000,
    transferTimeoutMs: 5000,
    channel: await clientChannelFrom(security),
  });
  try {
    await source.describe();
    return 'OK';
  } catch (err) {
    return Status[(err as ServiceError).code] ?? (err as Error).message;
  } finally {
    source.close();
  }
}

async function membersOf(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^fleet_members(?:\{[^}]*\})? (\d+)$/m.exec(text);
  if (!m) throw new Error(`no fleet_members in:\n${text}`);
  return Number(m[1]);
}

describe('gRPC authentication between real processes', () => {
  it('a mutual-TLS coordinator with a token refuses a wrong token, a missing or foreign client certificate and plaintext, and trains the run with the right credentials', async () => {
    const out = join(root, 'run');
    const coordinator = track(
      await startCoordinator([
        '--model',
        'tiny',
        '--backend',
        'wasm',
        '--data-dir',
        dataDir,
        '--allow-partial',
        '--limit-train',
        '128',
        '--epochs',
        '1',
        '--batch-size',
        '32',
        '--workers',
        '1',
        '--warmup-epochs',
        '0',
        '--out',
        out,
        '--run-id',
        'secure-run',
        '--metrics-port',
        '0',
        '--metrics-host',
        '127.0.0.1',
        '--tls-cert',
        certs.serverCert,
        '--tls-key',
        certs.serverKey,
        '--tls-ca',
        certs.ca,
        '--token-file',
        tokenFile,
      ]),
    );
    const address = `127.0.0.1:${coordinator.port}`;
    const metricsUrl = `${JSON.parse(await coordinator.waitFor(/"msg":"metrics"/)).url as string}`;
    const listening = JSON.parse(await coordinator.waitFor(/"msg":"listening"/));
    expect(listening.security).toEqual({ tls: 'mutual', token: true });

    // A real worker process per layer of refusal (token, TLS); --connect-timeout 0.2: a refused handshake looks like
    // an unreachable coordinator (UNAVAILABLE), which a worker retries, so let it give up after one retry.
    const worker = (name: string, args: string[]) =>
      track(startFleet(['worker', '--coordinator', address, '--name', name, '--connect-timeout', '0.2', ...args]));
    const intruders = {
      wrongToken: worker('wrong-token', [
        '--tls-ca',
        certs.ca,
        '--tls-cert',
        certs.clientCert,
        '--tls-key',
        certs.clientKey,
        '--token',
        'not-the-token',
      ]),
      noClientCert: worker('no-client-cert', ['--tls-ca', certs.ca, '--token-file', tokenFile]),
    };
    const exits = await Promise.all(Object.values(intruders).map((p) => p.exited));
    const outputOf = (p: FleetProcess) => p.lines.join('\n');
    for (const [i, [name, p]] of Object.entries(intruders).entries()) expect(exits[i]!.code, `${name}:\n${outputOf(p)}`).toBe(1);
    expect(outputOf(intruders.wrongToken)).toContain(`fleet: the coordinator at ${address} refused the token (UNAUTHENTICATED`);
    expect(outputOf(intruders.noClientCert)).toMatch(/UNAVAILABLE/);

    // More from this process, with exact codes; health needs the certificate but no token.
    const certified = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
    expect(await describeOutcome(address, { tls: certified, token: null })).toBe('UNAUTHENTICATED');
    expect(
      await describeOutcome(address, { tls: { ca: certs.ca, cert: certs.otherClientCert, key: certs.otherClientKey }, token: TOKEN }),
    ).toBe('UNAVAILABLE');
    expect(await describeOutcome(address, { tls: null, token: TOKEN })).toBe('UNAVAILABLE');
    expect(await describeOutcome(address, { tls: certified, token: TOKEN })).toBe('OK');
    expect(await healthOf(address, (await clientChannelFrom({ tls: certified, token: null })).credentials)).toBe('SERVING');

    // Nothing changed: no member, no registration; the refusals are logged.
    await coordinator.waitFor(/"method":"\/fleet.v1.Coordinator\/DescribeRun"/, 5000);
    const members = await membersOf(metricsUrl);
    const logged = coordinator.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; method?: string });
    const intrudersRegistered = logged.filter((l) => l.msg === 'worker registered').length;
    // Two intruder processes and four in-process calls without the right credentials (counted for the chaos summary).
    recordChaos({ scenario: 'unauthenticated clients', unauthenticatedTried: 6, unauthenticatedAccepted: intrudersRegistered + members });
    expect(members).toBe(0);
    expect(intrudersRegistered).toBe(0);
    expect(logged.filter((l) => l.msg === 'call refused: missing or wrong token').map((l) => l.method)).toEqual([
      '/fleet.v1.Coordinator/Register',
      '/fleet.v1.Coordinator/DescribeRun',
    ]);
    expect(logged.some((l) => l.msg === 'TLS handshake refused')).toBe(true);
    // The same refusals, counted for Prometheus (a TLS refusal never reaches a method).
    expect(samplesOf(await scrape(metricsUrl), 'fleet_unauthenticated_calls_total', 'method')).toEqual(
      new Map([
        ['/fleet.v1.Coordinator/Register', 1],
        ['/fleet.v1.Coordinator/DescribeRun', 1],
      ]),
    );

    // The right credentials, from FLEET_* variables as a Kubernetes pod would set them.
    const good = track(
      startFleet(['worker', '--coordinator', address, '--name', 'good-worker'], {
        FLEET_TLS_CA: certs.ca,
        FLEET_TLS_CERT: certs.clientCert,
        FLEET_TLS_KEY: certs.clientKey,
        FLEET_TOKEN_FILE: tokenFile,
      }),
    );
    const [coordinatorExit, goodExit] = await Promise.all([coordinator.exited, good.exited]);
    expect(goodExit.code, outputOf(good)).toBe(0);
    expect(coordinatorExit.code, coordinator.lines.slice(-10).join('\n')).toBe(0);
    const registered = coordinator.lines.filter((l) => l.includes('"msg":"worker registered"')).map((l) => JSON.parse(l).name as string);
    expect(registered).toEqual(['good-worker']);
    expect(coordinator.lines.some((l) => l.includes('"msg":"run finished"'))).toBe(true);
  });

  it('bad security flags stop the command at once with exit 2, naming the flag and the path', async () => {
    const missing = join(root, 'missing.pem');
    // Two processes (each loads tfjs: seconds on a small machine); the other combinations are unit-tested.
    const [cert, ca] = await Promise.all([
      runFleet(
        [
          'coordinator',
          '--port',
          '0',
          '--tls-cert',
          missing,
          '--tls-key',
          certs.serverKey,
          '--token-file',
          tokenFile,
          '--out',
          join(root, 'never'),
        ],
        { timeoutMs: 30_000 },
      ),
      runFleet(['worker', '--coordinator', '127.0.0.1:1', '--tls-ca', certs.serverKey], { timeoutMs: 30_000 }),
    ]);
    expect(cert!.code, cert!.stderr).toBe(2);
    expect(cert!.stderr).toContain(`--tls-cert "${missing}": cannot read the file (ENOENT`);
    expect(ca!.code, ca!.stderr).toBe(2);
    expect(ca!.stderr).toContain(`--tls-ca "${certs.serverKey}": not a PEM certificate`);
    // Refused before the run directory was made.
    await expect(stat(join(root, 'never'))).rejects.toThrow(/ENOENT/);
  });
});
