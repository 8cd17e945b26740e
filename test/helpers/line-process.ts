/**
 * Any command as a child process whose output is collected line by line:
 * startFleet runs fleet through it, net-hosts.ts its processes prefixed with
 * `ip netns exec NAME`, so the chaos helpers (logsWith) work on both.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface LineProcess {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line matching, or rejects when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startLineProcess(command: string, args: readonly string[], env: Record<string, string> = {}): LineProcess {
  const child = spawn(command, [...args], { env: { ...process.env, FLEET_LOG_PRETTY: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  // stdout and stderr each keep their partial last line: they interleave at line boundaries only.
  const collector = () => {
    let pending = '';
    return (d: Buffer) => {
      pending += d.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      lines.push(...parts);
      for (const l of listeners) l();
    };
  };
  child.stdout!.on('data', collector());
  child.stderr!.on('data', collector());
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
    // A command that cannot start (ENOENT) never emits 'close' with a code: report it as a line and an exit.
    child.on('error', (err) => {
      lines.push(`spawn ${command} failed: ${err.message}`);
      resolve({ code: null, signal: null });
    });
  });
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
