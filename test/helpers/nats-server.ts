import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  findNatsServer,
  freeLocalPort,
  startNatsServerProcess,
  type NatsServerProcess,
} from '../../services/launcher/nats-server-process.js';

/** A real nats-server child process with JetStream, on its own port and store dir (the launcher's own starter). */
export interface NatsServerHandle extends NatsServerProcess {
  /** Stops (SIGKILL) and removes the store dir when the helper made it. */
  dispose(): Promise<void>;
}

/** The developers' shared server: tests must never touch it. */
const SHARED_PORT = 4222;

/** Every server started by this process, killed on exit even when a test fails before its afterAll. */
const live = new Set<NatsServerProcess>();
process.once('exit', () => {
  // kill() sends SIGKILL before its first await: enough in an exit handler.
  for (const server of live) void server.kill();
});

export function natsServerAvailable(): boolean {
  return findNatsServer() !== null;
}

export async function startNatsServer(options: { port?: number; storeDir?: string; args?: string[] } = {}): Promise<NatsServerHandle> {
  const binary = findNatsServer();
  if (!binary) throw new Error('nats-server not found (looked in /usr/sbin and on PATH)');
  if (options.port === SHARED_PORT) throw new Error('refusing to start a test nats-server on the shared port 4222');
  const port = options.port ?? (await freeLocalPort([SHARED_PORT]));
  const ownsStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'fleet-nats-')));
  const server = await startNatsServerProcess({ binary, port, storeDir, ...(options.args ? { args: options.args } : {}) });
  live.add(server);
  return Object.assign(server, {
    dispose: async () => {
      await server.kill();
      live.delete(server);
      if (ownsStore) await rm(storeDir, { recursive: true, force: true });
    },
  });
}
