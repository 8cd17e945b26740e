import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real nats-server child process with JetStream, on its own port and store dir. */
export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  /** The server's log so far (stderr), for assertion messages. */
  readonly log: string[];
  /** SIGTERM (a clean shutdown: JetStream state flushed), then wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then wait for exit. */
  kill(): Promise<void>;
  /** Starts again on the same port and store dir (stops the running one first, if any). */
  restart(): Promise<void>;
  /** Stops (SIGKILL) and removes the store dir when the helper made it. */
  dispose(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
/** The developers' shared server: tests must never touch it. */
const SHARED_PORT = 4222;
const READY_TIMEOUT_MS = 15_000;

/** Every server started by this process, killed on exit even when a test fails before its afterAll. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function natsServerBinary(): string | null {
  const known = CANDIDATES.find((p) => existsSync(p));
  if (known) return known;
  const which = spawnSync('which', ['nats-server'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : null;
}

export function natsServerAvailable(): boolean {
  return natsServerBinary() !== null;
}

/** A port free right now on 127.0.0.1 (the OS picks it), never the shared 4222. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address();
        const p = typeof address === 'object' && address ? address.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port !== SHARED_PORT && port !== 0) return port;
  }
}

export async function startNatsServer(options: { port?: number; storeDir?: string; args?: string[] } = {}): Promise<NatsServerHandle> {
  const binary = natsServerBinary();
  if (!binary) throw new Error('nats-server not found (looked in /usr/sbin and on PATH)');
  if (options.port === SHARED_PORT) throw new Error('refusing to start a test nats-server on the shared port 4222');
  const port = options.port ?? (await freePort());
  const ownsStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'fleet-nats-')));
  const log: string[] = [];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const firstLine = log.length;
    const proc = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    live.add(proc);
    exited = new Promise<void>((resolve) => proc.once('exit', () => { live.delete(proc); resolve(); }));
    let pending = '';
    let onLine: (() => void) | null = null;
    const collect = (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      log.push(...lines);
      onLine?.();
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    // "Server is ready" is logged after JetStream has recovered its streams from the store dir.
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        onLine = null;
        reject(new Error(`nats-server on port ${port} ${why}:\n${log.slice(-20).join('\n')}`));
      };
      const timer = setTimeout(() => fail(`not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
      onLine = () => {
        if (log.slice(firstLine).some((l) => l.includes('Server is ready'))) {
          clearTimeout(timer);
          onLine = null;
          resolve();
        }
      };
      proc.once('exit', (code, signal) => { if (onLine) fail(`exited before ready (code ${code}, signal ${signal})`); });
      onLine();
    });
  };

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child as ChildProcess | null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited;
    child = null;
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    log,
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    restart: async () => {
      await signalAndWait('SIGTERM');
      await launch();
    },
    dispose: async () => {
      await signalAndWait('SIGKILL');
      if (ownsStore) await rm(storeDir, { recursive: true, force: true });
    },
  };
}
