import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const FLEET_BIN = fileURLToPath(new URL('../../cli/fleet.js', import.meta.url));

export interface FleetResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `fleet` command (the compiled CLI: `npm test` builds it first)
 * as a child process, as a user would.
 */
export function runFleet(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<FleetResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLEET_BIN, ...args], {
      env: { ...process.env, FLEET_LOG_PRETTY: '0', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fleet ${args.join(' ')} did not finish in ${options.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parses pino JSON lines, skipping anything else a process printed. */
export function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
