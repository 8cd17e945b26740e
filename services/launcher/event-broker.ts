import { mkdir } from 'node:fs/promises';
import type { Logger } from '../../src/runtime/logger.js';
import { findNatsServer, freeLocalPort, startNatsServerProcess } from './nats-server-process.js';

export interface EventBroker {
  /** Where the services send events; null: nowhere outside the coordinator's process. */
  url: string | null;
  /** Stops a nats-server the launcher started (nothing otherwise). */
  stop(): Promise<void>;
}

/**
 * Where a local run's events go: the NATS server given (--nats or NATS_URL),
 * else a nats-server of our own when one is installed (its JetStream store in
 * the run directory), else nowhere but the coordinator's log, with a warning,
 * so `npm start` works on a machine without NATS.
 */
export async function chooseEventBroker(o: { natsUrl: string | null; storeDir: string; log: Logger }): Promise<EventBroker> {
  if (o.natsUrl) return { url: o.natsUrl, stop: async () => {} };
  const binary = findNatsServer();
  if (!binary) {
    o.log.warn(
      'no NATS: neither --nats/NATS_URL nor a nats-server to start; events stay in the coordinator (no evaluator service, no fleet watch); the coordinator scores the test set itself',
    );
    return { url: null, stop: async () => {} };
  }
  await mkdir(o.storeDir, { recursive: true });
  const server = await startNatsServerProcess({
    binary,
    port: await freeLocalPort([4222]),
    storeDir: o.storeDir,
    onExit: (code, signal) => o.log.error({ code, signal }, "the launcher's nats-server exited: events wait until it is back"),
  });
  o.log.info({ nats: server.url, storeDir: o.storeDir }, 'started nats-server for this run (fleet watch --nats URL follows it)');
  return { url: server.url, stop: () => server.stop() };
}
