import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nkeys } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { type NatsServerHandle, natsServerAvailable, startNatsServer } from '../helpers/nats-server.js';
import { corePublishAs, publishAs } from '../helpers/nats-publish.js';
import { logLines, runFleet } from '../helpers/run-fleet.js';
import { tinyTrainArgs } from '../helpers/tiny-train.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';

/**
 * fleet against NATS servers that want credentials: a token, an nkey, and
 * deploy/nats/nats-auth.conf (a user per service with its permissions, mutual
 * TLS). With the right credentials a whole `fleet train --workers 1` run
 * (launcher, coordinator, evaluator: each its own connection) finishes with
 * its score; with wrong ones it fails at start naming the problem; a
 * service's user cannot publish another run's events.
 */
const DEPLOY_CONF = fileURLToPath(new URL('../../deploy/nats/nats-auth.conf', import.meta.url));
let root: string;
let dataDir: string;
let certs: TestCertificates;
const servers: NatsServerHandle[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-nats-auth-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 64, testCount: 30, pattern: 'learnable', seed: 6 });
  certs = await makeTestCertificates(root);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.dispose()));
  await rm(root, { recursive: true, force: true });
});

async function server(args: string[]): Promise<NatsServerHandle> {
  const s = await startNatsServer({ args });
  servers.push(s);
  return s;
}

/** A one-worker run with events on `url`: coordinator, worker and evaluator processes. */
function train(name: string, url: string, credentials: string[], runId = name) {
  const extra = ['--nats', url, ...credentials];
  return runFleet(tinyTrainArgs({ dataDir, root, run: runId, outName: name, extra }), { timeoutMs: 150_000 });
}

/** The run ended with the evaluator's score: every process connected and published. */
function expectScored(result: { code: number | null; stdout: string; stderr: string }) {
  expect(result.code, result.stderr + result.stdout.slice(-2000)).toBe(0);
  const finished = logLines(result.stdout).find((l) => l.event === 'run.finished');
  expect(finished).toMatchObject({ status: 'finished', bestEpoch: 1 });
}

describe.skipIf(!natsServerAvailable())('NATS with credentials', () => {
  it('token: the run (its evaluator too) works with it, and a wrong one fails at start naming the server', async () => {
    const s = await server(['--auth', 'sekrit-token']);
    expectScored(await train('token', s.url, ['--nats-token', 'sekrit-token']));
    const wrong = await train('token-wrong', s.url, ['--nats-token', 'nope']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(new RegExp(`--nats ${s.url}: cannot connect \\(Authorization Violation\\)`));
  }, 240_000);

  it('nkey: a seed file signs the connection; a file that is not a seed is refused naming it', async () => {
    const user = nkeys.createUser();
    const conf = join(root, 'nkey.conf');
    await writeFile(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
    const seedFile = join(root, 'user.nk');
    await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
    const s = await server(['-c', conf]);
    expectScored(await train('nkey', s.url, ['--nats-nkey', seedFile]));
    const notSeed = join(root, 'not-a-seed.nk');
    await writeFile(notSeed, 'hello\n');
    const wrong = await train('nkey-wrong', s.url, ['--nats-nkey', notSeed]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain(`--nats-nkey ${notSeed}: not an nkey user seed`);
  }, 240_000);

  it("deploy/nats/nats-auth.conf: users per service over mutual TLS; none can publish another run's events", async () => {
    const passwords = { COORDINATOR_PASSWORD: 'c-pass', EVALUATOR_PASSWORD: 'e-pass', WATCH_PASSWORD: 'w-pass' };
    Object.assign(process.env, passwords, {
      FLEET_RUN_SUBJECTS: 'fleet.secured.>',
      FLEET_RUN_ALIVE_SUBJECTS: 'fleet-alive.secured.>',
      NATS_TLS_CERT: certs.serverCert,
      NATS_TLS_KEY: certs.serverKey,
      NATS_TLS_CA: certs.ca,
    });
    // The file as shipped but for its store, a temporary folder given on the command line (-sd; both is an error).
    const shipped = await readFile(DEPLOY_CONF, 'utf8');
    expect(shipped).toContain('  store_dir: /data\n');
    const conf = join(root, 'nats-auth.conf');
    await writeFile(conf, shipped.replace('  store_dir: /data\n', ''));
    const s = await server(['-c', conf]);
    const tls = { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey };
    const tlsFlags = ['--nats-ca', certs.ca, '--nats-cert', certs.clientCert, '--nats-key', certs.clientKey];
    const asCoordinator = ['--nats-user', 'coordinator', '--nats-password', 'c-pass'];
    expectScored(await train('secured', s.url, [...asCoordinator, ...tlsFlags]));

    // Without a client certificate the server refuses the TLS handshake: the run fails at start.
    const noCert = await train('secured-no-cert', s.url, [...asCoordinator, '--nats-ca', certs.ca], 'secured');
    expect(noCert.code).not.toBe(0);
    expect(noCert.stderr).toMatch(/--nats nats:\/\/127\.0\.0\.1:\d+: cannot connect/);

    // Each user's publish rights: its run's subjects only; fleet watch's user none.
    const evaluator = { user: 'evaluator', pass: 'e-pass', ...tls };
    expect(await publishAs(s.url, evaluator, 'fleet.secured.eval')).toBe('ok');
    expect(await publishAs(s.url, evaluator, 'fleet.other.eval')).toMatch(/permission/i);
    expect(await corePublishAs(s.url, evaluator, 'fleet-alive.secured.evaluator')).toBe('ok');
    expect(await corePublishAs(s.url, evaluator, 'fleet-alive.other.evaluator')).toMatch(/permission/i);
    expect(await publishAs(s.url, { user: 'coordinator', pass: 'c-pass', ...tls }, 'fleet.other.run.started')).toMatch(/permission/i);
    expect(await publishAs(s.url, { user: 'watch', pass: 'w-pass', ...tls }, 'fleet.secured.eval')).toMatch(/permission/i);

    // fleet watch as its own user reads the finished run.
    const watch = await runFleet(
      ['watch', '--run', 'secured', '--nats', s.url, '--nats-user', 'watch', '--nats-password', 'w-pass', ...tlsFlags],
      { timeoutMs: 60_000 },
    );
    expect(watch.code, watch.stderr).toBe(0);
    expect(watch.stdout).toMatch(/type=run\.finished status=finished/);
  }, 300_000);
});
