import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionOptions, NatsCredentialsError } from '../../../src/events/nats-connection.js';
import { ConfigError } from '../../../src/runtime/config/config-error.js';
import { NATS_AUTH_VARIABLES, serviceIoFrom } from '../../../src/runtime/config/service-io.js';

/** The NATS credentials as a service compiles them: pairs that go together, files named when they cannot be used. */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-nats-opts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('NATS credentials', () => {
  it('keeps what was given, empty values as not given', () => {
    const io = serviceIoFrom({ nats: 'nats://n:4222', natsUser: 'u', natsPassword: 'p', natsToken: '', natsCa: '/ca.pem' });
    expect(io.natsAuth).toEqual({ user: 'u', pass: 'p', caFile: '/ca.pem' });
  });

  it('refuses a client certificate without its key, and a key without its certificate, naming the flag', () => {
    expect(() => serviceIoFrom({ natsCert: '/c.pem' })).toThrow(ConfigError);
    expect(() => serviceIoFrom({ natsCert: '/c.pem' })).toThrow(/--nats-cert "\/c.pem": needs both --nats-cert and --nats-key/);
    expect(() => serviceIoFrom({ natsKey: '/k.pem' })).toThrow(/--nats-key "\/k.pem"/);
    expect(serviceIoFrom({ natsCert: '/c.pem', natsKey: '/k.pem' }).natsAuth).toEqual({ certFile: '/c.pem', keyFile: '/k.pem' });
  });

  it('names a missing TLS or key file, and a file that is not an nkey seed', async () => {
    const base = { servers: 'nats://127.0.0.1:1', name: 't' };
    expect(() => connectionOptions({ ...base, auth: { caFile: join(dir, 'absent.pem') } })).toThrow(
      new NatsCredentialsError('--nats-ca', join(dir, 'absent.pem'), 'cannot read it (ENOENT)'),
    );
    const notSeed = join(dir, 'x.nk');
    await writeFile(notSeed, 'SUshort\n');
    expect(() => connectionOptions({ ...base, auth: { nkeyFile: notSeed } })).toThrow(/--nats-nkey .*x\.nk: not an nkey user seed/);
    const ca = join(dir, 'ca.pem');
    await writeFile(ca, 'pem');
    expect(connectionOptions({ ...base, auth: { caFile: ca } }).tls).toEqual({ caFile: ca });
  });

  it('has a NATS_ variable for every credential (the launcher hands them to its children that way)', () => {
    expect(Object.keys(NATS_AUTH_VARIABLES).sort()).toEqual([
      'caFile',
      'certFile',
      'credsFile',
      'keyFile',
      'nkeyFile',
      'pass',
      'token',
      'user',
    ]);
    expect(new Set(Object.values(NATS_AUTH_VARIABLES)).size).toBe(8);
  });
});
