import { spawn, type ChildProcess } from 'node:child_process';
import { FLEET_BIN } from './run-fleet.js';

/** A real `fleet` child process with its output collected line by line. */
export interface FleetProcess {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line matching, or rejects when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startFleet(args: string[], env: Record<string, string> = {}): FleetProcess {
  const child = spawn(process.execPath, [FLEET_BIN, ...args], {
    env: { ...process.env, FLEET_LOG_PRETTY: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let pending = '';
  const onData = (d: Buffer) => {
    pending += d.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    lines.push(...parts);
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = lines.find((l) => pattern.test(l));
        if (hit) {
          done();
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${pattern} in ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      void exited.then(() => {
        setImmediate(() => {
          check();
          if (listeners.has(check)) {
            done();
            reject(new Error(`process exited before ${pattern}:\n${lines.slice(-20).join('\n')}`));
          }
        });
      });
      check();
    });
  return { child, lines, waitFor, exited };
}

/** Starts `fleet coordinator --port 0 ...` and resolves with its real port. */
export async function startCoordinator(args: string[]): Promise<FleetProcess & { port: number }> {
  const p = startFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args]);
  const line = await p.waitFor(/"msg":"listening"/);
  return { ...p, port: Number(/"port":(\d+)/.exec(line)![1]) };
}
