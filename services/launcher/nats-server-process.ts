import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { FleetError } from '../../src/runtime/errors.js';

/** A nats-server child process with JetStream, on its own port and store folder. */
export interface NatsServerProcess {
  url: string;
  port: number;
  storeDir: string;
  /** The server's log lines so far. */
  readonly log: string[];
  /** SIGTERM (a clean shutdown: JetStream flushed), then wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port and store folder (stopping the running one first). */
  restart(): Promise<void>;
}

export class NatsServerStartError extends FleetError {}

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
const READY_TIMEOUT_MS = 15_000;

/** Debian puts nats-server in /usr/sbin, which is not on every user's PATH. */
export function findNatsServer(): string | null {
  const known = CANDIDATES.find((p) => existsSync(p));
  if (known) return known;
  const which = spawnSync('which', ['nats-server'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : null;
}

/** A port free right now on 127.0.0.1, other than `avoid` (the OS picks it). */
export async function freeLocalPort(avoid: readonly number[] = []): Promise<number> {
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
    if (port !== 0 && !avoid.includes(port)) return port;
  }
}

/**
 * Starts nats-server on 127.0.0.1 with JetStream stored in `storeDir`, and
 * resolves once it logs "Server is ready" (after JetStream recovered its
 * streams). `onExit` hears of an exit nobody asked for.
 */
export async function startNatsServerProcess(options: {
  binary: string;
  port: number;
  storeDir: string;
  args?: readonly string[];
  onExit?: (code: number | null, signal: string | null) => void;
}): Promise<NatsServerProcess> {
  const { binary, port, storeDir } = options;
  const log: string[] = [];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let stopping = false;

  const launch = async (): Promise<void> => {
    const firstLine = log.length;
    stopping = false;
    const proc = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    exited = new Promise<void>((resolve) =>
      proc.once('exit', (code, signal) => {
        if (!stopping) options.onExit?.(code, signal);
        resolve();
      }),
    );
    let pending = '';
    let onLine: (() => void) | null = null;
    const collect = (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      log.push(...lines);
      if (log.length > 2000) log.splice(0, log.length - 1000);
      onLine?.();
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        onLine = null;
        reject(new NatsServerStartError(`nats-server (${binary}) on port ${port} ${why}:\n${log.slice(-20).join('\n')}`));
      };
      const timer = setTimeout(() => fail(`not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
      onLine = () => {
        if (log.slice(firstLine).some((l) => l.includes('Server is ready'))) {
          clearTimeout(timer);
          onLine = null;
          resolve();
        }
      };
      proc.once('exit', (code, signal) => {
        if (onLine) fail(`exited before it was ready (code ${code}, signal ${signal})`);
      });
      proc.once('error', (err) => fail(`could not start: ${err.message}`));
      onLine();
    });
  };

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child as ChildProcess | null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    stopping = true;
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
  };
}
