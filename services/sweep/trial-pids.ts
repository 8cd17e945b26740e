import { readdir, readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../../src/runtime/atomic-file.js';

/**
 * SWEEP_DIR/trials/<id>.pid: the pid of a running trial's process (the
 * leader of its own process group) and its run id. Written once the trial
 * is started, removed once it has exited; a driver killed with kill -9
 * leaves it behind, and the resumed driver stops the trial it names before
 * starting that trial again, so no trial ever runs twice at once.
 */
export interface TrialPid {
  pid: number;
  runId: string;
}

export const pidFileOf = (trialsDir: string, id: string): string => `${trialsDir}/${id}.pid`;

export async function writeTrialPid(file: string, value: TrialPid): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value)}\n`, { syncDirectory: false });
}

export async function readTrialPid(file: string): Promise<TrialPid | null> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<TrialPid>;
    return typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 1 && typeof value.runId === 'string'
      ? { pid: value.pid, runId: value.runId }
      : null;
  } catch {
    return null;
  }
}

export async function removeTrialPid(file: string): Promise<void> {
  await rm(file, { force: true });
}

/**
 * Whether `pid` is a live process whose command line holds `runId` (its
 * --run-id): a pid reused by another program, or a zombie (no command line),
 * is not the trial.
 */
export async function isTrialProcess(pid: number, runId: string): Promise<boolean> {
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  return cmdline.split('\0').includes(runId);
}

/**
 * Every live process whose command line holds `runId`: the trial's process
 * when its pid file is missing (a driver killed between starting it and
 * writing the file). Empty where /proc cannot be read.
 */
export async function findTrialProcesses(runId: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid !== process.pid && (await isTrialProcess(pid, runId))) found.push(pid);
  }
  return found;
}

/**
 * Stops a trial left running by a killed driver: SIGTERM to its process
 * group (a one-process trainer writes a checkpoint and exits; a launcher
 * stops its cluster), SIGKILL after `graceMs`. Resolves true when it was
 * running, false when the pid file named nothing alive of this trial.
 */
export async function stopOrphan(o: TrialPid & { graceMs: number; pollMs?: number }): Promise<boolean> {
  if (!(await isTrialProcess(o.pid, o.runId))) return false;
  const pollMs = o.pollMs ?? 100;
  signalGroup(o.pid, 'SIGTERM');
  const deadline = Date.now() + o.graceMs;
  while (await isTrialProcess(o.pid, o.runId)) {
    if (Date.now() >= deadline) {
      signalGroup(o.pid, 'SIGKILL');
      // The kernel ends it at once; wait for its command line to go (a zombie has none).
      for (let i = 0; i < 50 && (await isTrialProcess(o.pid, o.runId)); i++) await sleep(pollMs);
      break;
    }
    await sleep(pollMs);
  }
  return true;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone.
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
