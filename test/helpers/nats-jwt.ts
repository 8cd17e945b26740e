/**
 * NATS decentralized auth for tests: an operator, its accounts and their
 * users as nkeys and JWTs (claims version 2, signed `ed25519-nkey`, as
 * nsc writes them), the server config that trusts the operator with the
 * accounts preloaded in memory, and a user's .creds file.
 *
 *   const op = natsOperator();
 *   const sys = op.account('SYS');
 *   const acct = op.account('FLEET', { jetstream: true });
 *   const user = acct.user('run-a', { pub: ['fleet.a.>'], sub: ['_INBOX.>'] });
 *   await writeFile(conf, operatorConfig(op, sys, [acct]));
 *   await writeFile(credsFile, user.creds);
 */
import { createHash } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';

type KeyPair = ReturnType<typeof nkeys.createUser>;

export interface NatsOperator {
  readonly key: KeyPair;
  readonly jwt: string;
  /** A new account signed by this operator (JetStream on: unlimited memory and file storage). */
  account(name: string, options?: { jetstream?: boolean }): NatsAccount;
}

export interface NatsAccount {
  readonly name: string;
  readonly key: KeyPair;
  readonly publicKey: string;
  readonly jwt: string;
  /** A new user of this account, allowed to publish and subscribe to these subjects only (none given: anything). */
  user(name: string, permissions?: { pub?: string[]; sub?: string[] }): NatsUser;
}

export interface NatsUser {
  readonly key: KeyPair;
  readonly jwt: string;
  /** The .creds file's text: the user's JWT and its nkey seed. */
  readonly creds: string;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const base64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

/** `header.claims.signature`, the signature by `issuer` over `header.claims` (JWT v2). */
export function signJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = {
    jti: '',
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  // The id is the hash of the claims without it (as nsc does; the server does not check it).
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).digest('hex').toUpperCase();
  const signed = `${base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${base64url(JSON.stringify(claims))}`;
  return `${signed}.${base64url(issuer.sign(new TextEncoder().encode(signed)))}`;
}

/** nats-server 2.9 enables JetStream for an account whose JWT allows any storage (-1: no limit). */
const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

export function natsOperator(name = 'test-operator'): NatsOperator {
  const key = nkeys.createOperator();
  const jwt = signJwt(key, key.getPublicKey(), name, { type: 'operator' });
  return {
    key,
    jwt,
    account: (accountName, options = {}) => {
      const accountKey = nkeys.createAccount();
      const publicKey = accountKey.getPublicKey();
      const limits = options.jetstream ? { ...UNLIMITED, ...JETSTREAM } : UNLIMITED;
      const accountJwt = signJwt(key, publicKey, accountName, { type: 'account', limits });
      return {
        name: accountName,
        key: accountKey,
        publicKey,
        jwt: accountJwt,
        user: (userName, permissions = {}) => {
          const userKey = nkeys.createUser();
          const userJwt = signJwt(accountKey, userKey.getPublicKey(), userName, {
            type: 'user',
            subs: -1,
            data: -1,
            payload: -1,
            ...(permissions.pub ? { pub: { allow: permissions.pub } } : {}),
            ...(permissions.sub ? { sub: { allow: permissions.sub } } : {}),
          });
          return { key: userKey, jwt: userJwt, creds: credsFile(userJwt, text(userKey.getSeed())) };
        },
      };
    },
  };
}

/** A .creds file as nsc writes it. */
export function credsFile(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

/** nats-server config trusting `operator`, with `system` as its system account and the accounts preloaded (resolver MEMORY). */
export function operatorConfig(operator: NatsOperator, system: NatsAccount, accounts: readonly NatsAccount[]): string {
  const preload = [system, ...accounts].map((a) => `  ${a.publicKey}: ${a.jwt}`).join('\n');
  return `operator: ${operator.jwt}\nsystem_account: ${system.publicKey}\nresolver: MEMORY\nresolver_preload: {\n${preload}\n}\n`;
}
