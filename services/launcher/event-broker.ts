import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNatsReader } from '../../src/events/index.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { NatsAuth } from '../../src/runtime/config/service-io.js';
import type { Logger } from '../../src/runtime/logger.js';
import { findNatsServer, freeLocalPort, startNatsServerProcess } from './nats-server-process.js';

export interface EventBroker {
  /** Where the services send events; null: nowhere outside the coordinator's process. */
  url: string | null;
  /** Stops a nats-server the launcher started (nothing otherwise). */
  stop(): Promise<void>;
}

/** --nats names a server that cannot be used: said before any process starts. */
export class NatsUnreachableError extends FleetError {
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`--nats ${url}: cannot connect (${reason})`);
  }
}

/** How long the launcher waits for the NATS server given before it gives up. */
const PROBE_TIMEOUT_MS = 5_000;

/**
 * Where a local run's events go: the NATS server given (--nats or NATS_URL;
 * checked at once, so an unreachable one fails the run before anything
 * starts), else a nats-server of our own when one is installed, else
 * nowhere but the coordinator's log, with a warning, so `npm start` works on
 * a machine without NATS. Our own server keeps its JetStream store in a
 * temporary folder outside the run directory, removed when it stops: the
 * events live as long as the run's processes, and a failed run leaves
 * nothing of theirs in --out.
 */
export async function chooseEventBroker(o: {
  natsUrl: string | null;
  auth?: NatsAuth;
  /** Our own server's JetStream store; default a temporary folder, removed at stop. */
  storeDir?: string;
  log: Logger;
}): Promise<EventBroker> {
  if (o.natsUrl) {
    await probeNats(o.natsUrl, o.auth ?? {}, o.log);
    return { url: o.natsUrl, stop: async () => {} };
  }
  const binary = findNatsServer();
  if (!binary) {
    o.log.warn(
      'no NATS: neither --nats/NATS_URL nor a nats-server to start; events stay in the coordinator (no evaluator service, no fleet watch); the coordinator scores the test set itself',
    );
    return { url: null, stop: async () => {} };
  }
  const ownStore = o.storeDir === undefined;
  const storeDir = o.storeDir ?? (await mkdtemp(join(tmpdir(), 'fleet-nats-')));
  const removeStore = async () => {
    if (ownStore) await rm(storeDir, { recursive: true, force: true });
  };
  let server: Awaited<ReturnType<typeof startNatsServerProcess>>;
  try {
    if (!ownStore) await mkdir(storeDir, { recursive: true });
    server = await startNatsServerProcess({
      binary,
      port: await freeLocalPort([4222]),
      storeDir,
      onExit: (code, signal) => o.log.error({ code, signal }, "the launcher's nats-server exited: events wait until it is back"),
    });
  } catch (err) {
    await removeStore();
    throw err;
  }
  o.log.info({ nats: server.url, storeDir }, 'started nats-server for this run (fleet watch --nats URL follows it)');
  return {
    url: server.url,
    stop: async () => {
      try {
        await server.stop();
      } finally {
        await removeStore();
      }
    },
  };
}

/** Connects once (JetStream must answer), then closes: the children connect on their own. */
async function probeNats(url: string, auth: NonNullable<Parameters<typeof chooseEventBroker>[0]['auth']>, log: Logger): Promise<void> {
  let reader: Awaited<ReturnType<typeof connectNatsReader>>;
  try {
    reader = await connectNatsReader({
      servers: url,
      name: 'fleet-train-probe',
      auth,
      connectTimeoutMs: PROBE_TIMEOUT_MS,
      log: log.child({}, { level: 'warn' }),
    });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    throw new NatsUnreachableError(url, cause instanceof Error ? cause.message : (err as Error).message);
  }
  await reader.close().catch(() => {});
}
