import { readFileSync } from 'node:fs';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsAuth } from '../runtime/config/service-io.js';
import { FleetError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';

/** What a NATS connection of fleet's needs: the bus's and the reader's options share these. */
export interface NatsConnectionSettings {
  /** One URL or several, comma-separated: nats://host:4222,nats://other:4222 */
  servers: string;
  /** The connection's name on the server's monitoring pages, e.g. evaluator:3f9a. */
  name: string;
  auth?: NatsAuth;
  /** The first connection must succeed within this (default 10 s); later outages are ridden out for ever. */
  connectTimeoutMs?: number;
}

/** The server cannot be reached, or has no JetStream: the servers tried and why. */
export class NatsUnavailableError extends FleetError {
  constructor(
    readonly servers: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot use NATS JetStream at ${servers}: ${reason}`, options);
  }
}

export function connectionOptions(o: NatsConnectionSettings): NodeConnectionOptions {
  const options: NodeConnectionOptions = {
    servers: o.servers
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    name: o.name,
    timeout: o.connectTimeoutMs ?? 10_000,
    // An outage of the server is waited out, never fatal: publishers queue meanwhile.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // The default (2 min) would notice a silently dead server very late.
    pingInterval: 20_000,
  };
  const auth = o.auth ?? {};
  if (auth.user !== undefined) options.user = auth.user;
  if (auth.pass !== undefined) options.pass = auth.pass;
  if (auth.token !== undefined) options.token = auth.token;
  if (auth.credsFile !== undefined) {
    options.authenticator = credsAuthenticator(new Uint8Array(readSecret(auth.credsFile, '--nats-creds')));
  } else if (auth.nkeyFile !== undefined) {
    const seed = readSecret(auth.nkeyFile, '--nats-nkey').toString('utf8').trim();
    // A user seed: 'SU' then base32. Anything else would fail later as a bare "Authorization Violation".
    if (!/^SU[A-Z2-7]{56}$/.test(seed))
      throw new NatsCredentialsError('--nats-nkey', auth.nkeyFile, "not an nkey user seed (one line 'SU...')");
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (auth.caFile !== undefined || auth.certFile !== undefined) {
    // Read here so a missing file is named at once, not as a TLS handshake failure.
    for (const [file, flag] of [
      [auth.caFile, '--nats-ca'],
      [auth.certFile, '--nats-cert'],
      [auth.keyFile, '--nats-key'],
    ] as const)
      if (file !== undefined) readSecret(file, flag);
    options.tls = {
      ...(auth.caFile !== undefined ? { caFile: auth.caFile } : {}),
      ...(auth.certFile !== undefined ? { certFile: auth.certFile } : {}),
      ...(auth.keyFile !== undefined ? { keyFile: auth.keyFile } : {}),
    };
  }
  return options;
}

/** A credentials, key or certificate file that cannot be used: the flag, the file and why. */
export class NatsCredentialsError extends FleetError {
  constructor(
    readonly flag: string,
    readonly file: string,
    reason: string,
  ) {
    super(`${flag} ${file}: ${reason}`);
  }
}

function readSecret(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new NatsCredentialsError(flag, file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Logs the connection's life (disconnect warn, reconnect info) and tells reconnect listeners. */
export async function watchConnection(nc: NatsConnection, log: Logger, onReconnect: () => void): Promise<void> {
  for await (const s of nc.status()) {
    switch (s.type) {
      case 'disconnect':
        log.warn({ server: s.server }, 'NATS disconnected: reconnecting (events are queued meanwhile)');
        break;
      case 'reconnect':
        log.info({ server: s.server }, 'NATS reconnected');
        onReconnect();
        break;
      case 'error':
        log.warn({ err: s.error.message }, 'NATS error');
        break;
      case 'ldm':
        log.warn({ server: s.server }, 'NATS server entering lame duck mode');
        break;
      case 'staleConnection':
        log.warn('NATS connection stale: reconnecting');
        break;
      case 'slowConsumer':
        log.warn({ pending: s.pending }, 'NATS slow consumer');
        break;
      default:
        break;
    }
  }
}

/**
 * Connects and opens JetStream's manager (an account info request: it fails
 * when JetStream is off, and creates nothing), then runs `setUp`. A failure
 * anywhere closes the connection and is a NatsUnavailableError naming the servers.
 */
export async function connectJetStream<T>(
  options: NatsConnectionSettings,
  setUp: (nc: NatsConnection, jsm: JetStreamManager) => Promise<T> | T,
): Promise<T> {
  let nc: NatsConnection;
  try {
    nc = await connect(connectionOptions(options));
  } catch (err) {
    throw new NatsUnavailableError(options.servers, (err as Error).message, { cause: err });
  }
  try {
    return await setUp(nc, await jetstreamManager(nc));
  } catch (err) {
    await nc.close().catch(() => {});
    throw new NatsUnavailableError(options.servers, `JetStream: ${(err as Error).message}`, { cause: err });
  }
}
