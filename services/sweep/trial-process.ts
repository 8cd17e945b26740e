import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The `fleet` bin, as the launcher finds it from dist/services/sweep/. */
export const FLEET_BIN = fileURLToPath(new URL('../../../cli/fleet.js', import.meta.url));

export interface TrialExit {
  code: number | null;
  signal: string | null;
}

export interface TrialProcess {
  pid: number;
  exited: Promise<TrialExit>;
  /** Sends `signal` to the trial's own process (the trainer, or the launcher, which stops its cluster). */
  signal(signal: NodeJS.Signals): void;
  /** Sends `signal` to the trial's whole process group (the launcher's children too). */
  signalGroup(signal: NodeJS.Signals): void;
}

/**
 * A trial as a `fleet train` child process in its own process group
 * (detached), its stdout and stderr appended straight to `logFile`: if the
 * driver dies (kill -9) the trial goes on writing its log rather than into
 * a closed pipe, and a resumed driver finds it by its pid and group.
 */
export async function spawnTrial(o: {
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  nodeArgs?: string[];
}): Promise<TrialProcess> {
  const log = await open(o.logFile, 'a');
  try {
    const child = spawn(process.execPath, [...(o.nodeArgs ?? []), FLEET_BIN, ...o.args], {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: o.env,
    });
    const exited = new Promise<TrialExit>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    if (child.pid === undefined) {
      await exited;
      throw new Error('spawn gave no pid');
    }
    const pid = child.pid;
    const send = (target: number, signal: NodeJS.Signals) => {
      try {
        process.kill(target, signal);
      } catch {
        // Gone already.
      }
    };
    return {
      pid,
      exited,
      signal: (signal) => {
        if (child.exitCode === null && child.signalCode === null) send(pid, signal);
      },
      signalGroup: (signal) => send(-pid, signal),
    };
  } finally {
    // The child holds its own copy of the descriptor.
    await log.close();
  }
}

/** pino's error level. */
const ERROR_LEVEL = 50;

/**
 * Why a trial failed, from the end of its log: the `fleet: <message>` line
 * the CLI prints for an error it explains, else the last error-level log
 * record's message (and its error's), else the last other text.
 */
export async function lastErrorLine(logFile: string, maxBytes = 64 * 1024): Promise<string | null> {
  let text: string;
  try {
    const buffer = await readFile(logFile);
    text = buffer.subarray(Math.max(0, buffer.length - maxBytes)).toString('utf8');
  } catch {
    return null;
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  let record: string | null = null;
  let other: string | null = null;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (line.startsWith('fleet: ')) return clip(line.slice('fleet: '.length));
    if (line.startsWith('{')) {
      if (record !== null) continue;
      try {
        const r = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
        if (typeof r.level === 'number' && r.level >= ERROR_LEVEL) {
          const msg = typeof r.msg === 'string' ? r.msg : 'error';
          const err = typeof r.err?.message === 'string' ? r.err.message : null;
          record = err !== null ? `${msg}: ${err}` : msg;
        }
      } catch {
        other ??= line;
      }
    } else {
      other ??= line;
    }
  }
  const found = record ?? other;
  return found === null ? null : clip(found);
}

function clip(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
