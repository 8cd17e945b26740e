import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { credsFile, type NatsAccount, natsOperator, operatorConfig } from '../helpers/nats-jwt.js';
import { publishAs } from '../helpers/nats-publish.js';
import { type NatsServerHandle, natsServerAvailable, startNatsServer } from '../helpers/nats-server.js';
import { logLines, runFleet } from '../helpers/run-fleet.js';
import { tinyTrainArgs } from '../helpers/tiny-train.js';

/**
 * fleet against a NATS server in operator mode (decentralized JWT auth): an
 * operator, an account with JetStream, and a user per run whose JWT allows
 * that run's subjects only, as deploy/nats/nats-auth.conf's users do. With
 * the user's .creds file (--nats-creds) a whole `fleet train --workers 1`
 * run finishes with its evaluator's score; a user of an account the server
 * does not know, or a JWT with another user's seed, fails at start naming
 * the authorization failure; run A's user cannot publish run B's events.
 */
let root: string;
let dataDir: string;
let server: NatsServerHandle;
let account: NatsAccount;
/** A second operator's account: the server has never heard of it. */
let stranger: NatsAccount;

/**
 * What one run's services need (deploy/nats/nats-auth.conf's coordinator, evaluator and watch users together)
 * and no more; `beats: false` leaves out the evaluator's liveness subject.
 */
function runUser(acct: NatsAccount, run: string, { beats = true } = {}) {
  const alive = beats ? [`fleet-alive.${run}.>`] : [];
  return acct.user(`fleet-${run}`, {
    pub: [`fleet.${run}.>`, ...alive, '$JS.API.>', '$JS.ACK.FLEET_EVENTS.>', '$JS.FC.>'],
    sub: ['_INBOX.>', ...alive],
  });
}

async function creds(name: string, text: string): Promise<string> {
  const file = join(root, `${name}.creds`);
  await writeFile(file, text, { mode: 0o600 });
  return file;
}

beforeAll(async () => {
  if (!natsServerAvailable()) return;
  root = await mkdtemp(join(tmpdir(), 'fleet-nats-creds-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 64, testCount: 30, pattern: 'learnable', seed: 6 });
  const operator = natsOperator();
  const system = operator.account('SYS');
  account = operator.account('FLEET', { jetstream: true });
  stranger = natsOperator('other-operator').account('FLEET', { jetstream: true });
  const conf = join(root, 'operator.conf');
  await writeFile(conf, operatorConfig(operator, system, [account]));
  server = await startNatsServer({ args: ['-c', conf] });
});

afterAll(async () => {
  await server?.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

/** A one-worker run as run id `run`: launcher, coordinator and evaluator each connect with the creds file. */
function train(run: string, credsPath: string) {
  const extra = ['--nats', server.url, '--nats-creds', credsPath];
  return runFleet(tinyTrainArgs({ dataDir, root, run, extra }), { timeoutMs: 150_000 });
}

describe.skipIf(!natsServerAvailable())('NATS with a JWT credentials file (operator mode)', () => {
  it("the run's own user: the whole run works, its evaluator scores, and the coordinator hears the evaluator's liveness beats", async () => {
    const result = await train('credsa', await creds('credsa', runUser(account, 'credsa').creds));
    expect(result.code, result.stderr + result.stdout.slice(-2000)).toBe(0);
    expect(logLines(result.stdout).find((l) => l.event === 'run.finished')).toMatchObject({ status: 'finished', bestEpoch: 1 });
    const coordinatorLog = await readFile(join(root, 'credsa', 'logs', 'coordinator.log'), 'utf8');
    expect(coordinatorLog).toContain('"msg":"evaluator alive"');
    expect(coordinatorLog).toContain('"msg":"the evaluator scored the last checkpoint"');
  }, 180_000);

  it("a user not allowed the liveness subject: the run still finishes with the evaluator's score, the coordinator saying it cannot hear the beats", async () => {
    const result = await train('credsnb', await creds('credsnb', runUser(account, 'credsnb', { beats: false }).creds));
    expect(result.code, result.stderr + result.stdout.slice(-2000)).toBe(0);
    expect(logLines(result.stdout).find((l) => l.event === 'run.finished')).toMatchObject({ status: 'finished', bestEpoch: 1 });
    const coordinatorLog = await readFile(join(root, 'credsnb', 'logs', 'coordinator.log'), 'utf8');
    expect(coordinatorLog).toContain('"msg":"cannot listen to the evaluator\'s liveness beats');
    expect(coordinatorLog).toContain('"msg":"the evaluator scored the last checkpoint"');
    expect(coordinatorLog).not.toContain('scoring the last checkpoint here');
  }, 180_000);

  it('a user of an account the server does not trust, or a JWT with another seed: the run fails at start naming the authorization failure', async () => {
    const unknown = await train('credsx', await creds('unknown-account', runUser(stranger, 'credsx').creds));
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(new RegExp(`--nats ${server.url}: cannot connect \\(Authorization Violation\\)`));

    // The JWT is valid, but the seed is not its user's: the server's nonce signature does not match.
    const other = account.user('impostor');
    const mismatched = credsFile(runUser(account, 'credsy').jwt, new TextDecoder().decode(other.key.getSeed()));
    const wrongSeed = await train('credsy', await creds('wrong-seed', mismatched));
    expect(wrongSeed.code).not.toBe(0);
    expect(wrongSeed.stderr).toMatch(new RegExp(`--nats ${server.url}: cannot connect \\(Authorization Violation\\)`));
  }, 120_000);

  it("run A's user publishes run A's events only: run B's are refused", async () => {
    const a = await creds('run-a', runUser(account, 'runa').creds);
    expect(await publishAs(server.url, { credsFile: a }, 'fleet.runa.eval')).toBe('ok');
    expect(await publishAs(server.url, { credsFile: a }, 'fleet.runb.eval')).toMatch(/permission/i);
    expect(await publishAs(server.url, { credsFile: a }, 'fleet.runb.run.finished')).toMatch(/permission/i);
    // Run B's own user may.
    const b = await creds('run-b', runUser(account, 'runb').creds);
    expect(await publishAs(server.url, { credsFile: b }, 'fleet.runb.eval')).toBe('ok');
  }, 60_000);
});
