import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, type FleetProcess } from '../helpers/fleet-processes.js';
import { runFleet } from '../helpers/run-fleet.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';

/**
 * `fleet health HOST:PORT` against real coordinators (plaintext, mutual TLS):
 * the exec probe Kubernetes runs where its own gRPC probe cannot speak TLS.
 * Exit 0 and one line on stdout when SERVING, exit 1 and one line on stderr
 * otherwise, naming the cause.
 */
let root: string;
let dataDir: string;
let certs: TestCertificates;
const started: FleetProcess[] = [];
let silent: Server | null = null;
const silentSockets: Socket[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-health-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 64, testCount: 20, seed: 3 });
  certs = await makeTestCertificates(root);
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const socket of silentSockets) socket.destroy();
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
  await rm(root, { recursive: true, force: true });
});

/** A coordinator waiting for its 2 workers: serving, with nothing to train. */
async function coordinator(name: string, extra: string[] = []) {
  const p = await startCoordinator([
    '--model',
    'tiny',
    '--backend',
    'wasm',
    '--data-dir',
    dataDir,
    '--allow-partial',
    '--workers',
    '2',
    '--out',
    join(root, name),
    ...extra,
  ]);
  started.push(p);
  return `127.0.0.1:${p.port}`;
}

const health = (args: string[]) => runFleet(['health', ...args], { timeoutMs: 30_000 });

/** The probe's output: exactly one line, on the stream that says how it went. */
function oneLine(text: string): string {
  const lines = text.split('\n').filter((l) => l !== '');
  expect(lines, text).toHaveLength(1);
  return lines[0]!;
}

describe('fleet health: grpc.health.v1 Check as an exec probe', () => {
  it('a plaintext coordinator: SERVING for the server and for fleet.v1.Coordinator (exit 0); an unknown service and nothing listening exit 1 saying so', async () => {
    const address = await coordinator('plain');

    const overall = await health([address]);
    expect(overall.code, overall.stderr).toBe(0);
    expect(oneLine(overall.stdout)).toBe(`${address}: SERVING`);
    expect(overall.stderr).toBe('');

    const run = await health([address, '--service', 'fleet.v1.Coordinator']);
    expect(run.code, run.stderr).toBe(0);
    expect(oneLine(run.stdout)).toBe(`${address} (service fleet.v1.Coordinator): SERVING`);

    const unknown = await health([address, '--service', 'no.such.Service']);
    expect(unknown.code).toBe(1);
    expect(oneLine(unknown.stderr)).toBe(
      `fleet: health of ${address}: unknown service "no.such.Service" (the server serves grpc.health.v1 but not this name)`,
    );

    // The same port once nothing listens there: refused, at once.
    const port = Number(address.split(':')[1]);
    const p = started.at(-1)!;
    p.child.kill('SIGKILL');
    await p.exited;
    const refused = await health([`127.0.0.1:${port}`]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(oneLine(refused.stderr)).toMatch(
      new RegExp(`^fleet: health of 127\\.0\\.0\\.1:${port}: connection refused \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`),
    );
  });

  it('a mutual-TLS coordinator with a token: the worker-style flags and variables get SERVING; a wrong CA, no client certificate and plaintext exit 1 naming TLS', async () => {
    const address = await coordinator('tls', [
      '--tls-cert',
      certs.serverCert,
      '--tls-key',
      certs.serverKey,
      '--tls-ca',
      certs.ca,
      '--token',
      'probe-secret',
    ]);
    const client = ['--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey];

    // The health service is exempt from the token (Kubernetes' probes carry none); sending one is harmless.
    const ok = await health([address, ...client, '--service', 'fleet.v1.Coordinator']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(oneLine(ok.stdout)).toBe(`${address} (service fleet.v1.Coordinator): SERVING`);
    expect(ok.stderr).toBe('');
    const fromEnv = await runFleet(['health', address, '--token', 'probe-secret'], {
      env: { FLEET_TLS_CA: certs.ca, FLEET_TLS_CERT: certs.clientCert, FLEET_TLS_KEY: certs.clientKey, FLEET_HEALTH_TIMEOUT: '10s' },
      timeoutMs: 30_000,
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);

    const wrongCa = await health([address, '--tls-ca', certs.otherCa, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey]);
    expect(wrongCa.code).toBe(1);
    expect(oneLine(wrongCa.stderr)).toBe(`fleet: health of ${address}: TLS handshake failed: self-signed certificate in certificate chain`);

    const noClientCert = await health([address, '--tls-ca', certs.ca]);
    expect(noClientCert.code).toBe(1);
    expect(oneLine(noClientCert.stderr)).toMatch(
      /^fleet: health of .*: TLS handshake failed: .*certificate required \(the server wants a client certificate: --tls-cert and --tls-key\)$/,
    );

    const plaintext = await health([address]);
    expect(plaintext.code).toBe(1);
    expect(oneLine(plaintext.stderr)).toMatch(
      /^fleet: health of .*: connection failed \(.*\): a TLS server dialled without --tls or --tls-ca\?$/,
    );

    // A bad TLS file is a usage error (exit 2) naming the flag, as on fleet worker.
    const badFile = await health([address, '--tls-ca', certs.serverKey]);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toContain(`--tls-ca "${certs.serverKey}": not a PEM certificate`);
  });

  it('a server that accepts the connection and never answers: exit 1 at --timeout', async () => {
    silent = createServer((socket) => silentSockets.push(socket));
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const startedAt = Date.now();
    const result = await health([`127.0.0.1:${port}`, '--timeout', '1s']);
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(new RegExp(`^fleet: health of 127\\.0\\.0\\.1:${port}: no answer within 1s`));
    // Node's start-up included: well under the 5 s default.
    expect(Date.now() - startedAt).toBeLessThan(15_000);
  });
});
