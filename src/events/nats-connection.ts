import { readFileSync } from 'node:fs';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { FleetError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';

/** What a NATS connection of fleet's needs: the bus's and the reader's options share these. */
export interface NatsConnectionSettings {
  /** One URL or several, comma-separated: nats://host:4222,nats://other:4222 */
  servers: string;
  /** The connection's name on the server's monitoring pages, e.g. evaluator:3f9a. */
  name: string;
  auth?: { user?: string; pass?: string; token?: string; credsFile?: string };
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
    const creds = readFileSync(auth.credsFile);
    options.authenticator = credsAuthenticator(new Uint8Array(creds));
  }
  return options;
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
