/**
 * One fleet process of the soak, supervised as Kubernetes would: its output
 * goes to a log file (an hour of lines is too many to keep in memory; the
 * last ones are kept for waitFor and error messages), and when it dies
 * without the schedule having killed it, that is counted as an unplanned
 * exit and it is started again after a delay, as a restart policy does.
 * The schedule's kills mark themselves planned first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FLEET_BIN = fileURLToPath(new URL('../../../cli/fleet.js', import.meta.url));
const KEEP_LINES = 400;

export interface SoakProcessOptions {
  /** Shown in the soak's own log lines and the summary: coordinator, evaluator, worker-1, ... */
  name: string;
  /** fleet's arguments for the first start. */
  args: string[];
  /** fleet's arguments for a restart (the coordinator adds --resume); the first start's when absent. */
  restartArgs?: string[];
  env?: Record<string, string>;
  logFile: string;
  /** Restart after an unplanned exit, after this delay. */
  restartDelayMs: number;
  /** Restarted after an unplanned exit (default true); a process that exits 0 is done and never restarted. */
  restart?: boolean;
  /** Each line it prints (the log file has them all). */
  onLine?: (line: string) => void;
  onEvent: (what: string, fields: Record<string, unknown>) => void;
}

export class SoakProcess {
  private child: ChildProcess | null = null;
  private readonly out: WriteStream;
  private readonly recent: string[] = [];
  private readonly watchers = new Set<() => void>();
  private planned = false;
  private finished = false;
  private stopping = false;
  private exitWaiters: (() => void)[] = [];
  starts = 0;
  unplannedExits = 0;
  /** Resolves when the process exits 0 (its work done). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly o: SoakProcessOptions) {
    this.out = createWriteStream(o.logFile, { flags: 'a' });
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  get name(): string {
    return this.o.name;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** The first start's arguments. */
  get args(): readonly string[] {
    return this.o.args;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get lastLines(): readonly string[] {
    return this.recent;
  }

  start(): void {
    if (this.child || this.finished || this.stopping) return;
    const args = this.starts > 0 && this.o.restartArgs ? this.o.restartArgs : this.o.args;
    this.starts += 1;
    const child = spawn(process.execPath, [FLEET_BIN, ...args], {
      env: { ...process.env, FLEET_LOG_PRETTY: '0', ...this.o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.out.write(
      `# soak: start ${this.starts} of ${this.o.name} (pid ${child.pid}) at ${new Date().toISOString()}: fleet ${args.join(' ')}\n`,
    );
    const collect = () => {
      let pending = '';
      return (d: Buffer) => {
        this.out.write(d);
        pending += d.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        this.recent.push(...lines);
        if (this.o.onLine) for (const l of lines) this.o.onLine(l);
        if (this.recent.length > KEEP_LINES) this.recent.splice(0, this.recent.length - KEEP_LINES);
        for (const w of this.watchers) w();
      };
    };
    child.stdout!.on('data', collect());
    child.stderr!.on('data', collect());
    child.on('close', (code, signal) => {
      this.child = null;
      for (const w of this.watchers) w();
      const waiters = this.exitWaiters;
      this.exitWaiters = [];
      for (const w of waiters) w();
      if (code === 0) {
        this.finished = true;
        this.o.onEvent('exited 0', { process: this.o.name });
        this.resolveDone();
        return;
      }
      if (this.stopping) return;
      if (this.planned) {
        this.planned = false; // the fault that killed it restarts it
        return;
      }
      const restart = this.o.restart ?? true;
      // A process not meant to be restarted (a garbage worker) is expected to end so.
      if (restart) this.unplannedExits += 1;
      this.o.onEvent(restart ? 'unplanned exit: restarting' : 'exited', {
        process: this.o.name,
        code,
        signal,
        last: this.recent.slice(-3),
      });
      if (restart) setTimeout(() => this.start(), this.o.restartDelayMs).unref();
    });
  }

  /** Sends a signal the schedule chose; a kill is marked planned so the supervisor leaves the restart to the fault. */
  signal(sig: NodeJS.Signals): boolean {
    if (!this.child) return false;
    if (sig === 'SIGKILL') this.planned = true;
    return this.child.kill(sig);
  }

  /** Resolves when the running process (if any) has exited. */
  exited(): Promise<void> {
    if (!this.child) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** The first recent line matching, waiting up to timeoutMs for it. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.recent.find((l) => pattern.test(l));
        if (hit) {
          finish();
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.o.name}: no line matching ${pattern} in ${timeoutMs} ms:\n${this.recent.slice(-15).join('\n')}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.watchers.delete(check);
      };
      this.watchers.add(check);
      check();
    });
  }

  /** A graceful stop for good: SIGTERM (a coordinator drains and checkpoints), SIGKILL after `graceMs`. */
  async terminate(graceMs: number): Promise<void> {
    this.stopping = true;
    if (!this.child) return;
    const gone = this.exited();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /** Stops for good (SIGKILL; the soak is over or failed). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child) {
      const gone = this.exited();
      this.child.kill('SIGKILL');
      await gone;
    }
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}
