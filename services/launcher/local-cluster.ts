import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { InterruptedError } from '../../src/training/errors.js';
import { parseChildLine, type ChildLine } from './child-log-line.js';
import type { ChildLogs } from './child-logs.js';
import { findNice } from './evaluator-priority.js';

const FLEET_BIN = fileURLToPath(new URL('../../../cli/fleet.js', import.meta.url));

export class ClusterFailedError extends FleetError {
  constructor(
    readonly process: string,
    readonly code: number | null,
    readonly signal: string | null,
    detail?: string,
  ) {
    super(
      `${process} exited with ${code !== null ? `code ${code}` : `signal ${signal}`}${detail ? ` (${detail})` : ''}; the other processes were stopped`,
    );
  }
}

/** Restarts of an evaluator that dies before the run ends, and the first delay (doubled each time). */
export const DEFAULT_EVALUATOR_RESTARTS = 3;
const EVALUATOR_RESTART_DELAY_MS = 1000;

export interface LocalClusterOptions {
  workers: number;
  /** Flags for `fleet coordinator` (the training flags, --out, ...), without --port. */
  coordinatorArgs: string[];
  /** Extra flags for each `fleet worker`. */
  workerArgs: string[];
  /** Flags for worker i only (its share of the CPUs); absent: none. */
  workerArgsOf?: (i: number) => string[];
  /** Flags for node itself, before fleet's (launcher/gc-threads.ts). */
  nodeArgs?: string[];
  /** Worker i runs under `taskset -c cpuSets[i]` (launcher/cpu-sets.ts); null: unpinned. */
  pinning?: { taskset: string; cpuSets: readonly string[] } | null;
  /** With NATS, an evaluator service scores the checkpoints: its flags (the coordinator's address is added). Null: none. */
  evaluatorArgs: string[] | null;
  /** How many times a failed evaluator is restarted before the run fails (default DEFAULT_EVALUATOR_RESTARTS). */
  evaluatorRestarts?: number;
  /** The evaluator's niceness (evaluator-priority.ts: it shares the workers' CPUs); null: the launcher's priority. */
  evaluatorNice?: number | null;
  log: Logger;
  /** How long children get to stop after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  env?: NodeJS.ProcessEnv;
  /** Variables of one process on top of `env` (by its name: coordinator, worker-i, evaluator): --gpus's CUDA_VISIBLE_DEVICES. */
  envOf?: (process: string) => NodeJS.ProcessEnv;
  /** Where every child's output goes (files in the run directory, opened once the coordinator listens). */
  logs: ChildLogs;
  /** Each line a child prints, parsed (the terminal view). */
  onLine?: (line: ChildLine) => void;
  /** A child exited; `stopping`: the launcher had asked it to (another failed, a signal, the run's end). */
  onExit?: (process: string, code: number | null, signal: string | null, stopping: boolean) => void;
}

/**
 * The coordinator's graceful stop (drain, checkpoint, server shutdown) inside
 * the launcher's --stop-grace, before its SIGKILL: half of it for the round
 * in hand, a quarter for calls in flight.
 */
function stopBudget(stopGraceMs: number): string[] {
  return ['--drain-timeout', `${Math.floor(stopGraceMs / 2)}ms`, '--shutdown-grace', `${Math.floor(stopGraceMs / 4)}ms`];
}

/** The names the launcher gives its processes (and their log files): coordinator, worker-0..N-1, evaluator. */
export const workerProcessName = (i: number) => `worker-${i}`;

/**
 * `fleet train --workers N` on one machine: the coordinator and N workers as
 * child processes on a free port, so a local run takes the same gRPC path as
 * a cluster. Their output (JSON log lines, on stdout and stderr) goes to
 * `logs` and, parsed, to `onLine`. When any process fails, or on
 * SIGINT/SIGTERM (then InterruptedError), all are stopped. Resolves with the
 * coordinator's exit code once every child has exited.
 */
export async function runLocalCluster(options: LocalClusterOptions): Promise<number> {
  const { log } = options;
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    setTimeout(() => {
      for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, options.stopGraceMs).unref();
  };
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted ??= signal;
    log.warn({ signal }, 'stopping the local cluster');
    stopAll('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const closed: Promise<void>[] = [];
  const start = (name: string, args: string[], cpuSet?: string, onLine?: (line: ChildLine) => void, nice?: string) => {
    const command = [process.execPath, ...(options.nodeArgs ?? []), FLEET_BIN, ...args];
    // taskset and nice exec node in place: the child's pid, signals and exit code are node's.
    const argv =
      cpuSet !== undefined && options.pinning
        ? [options.pinning.taskset, '-c', cpuSet, ...command]
        : nice !== undefined
          ? [nice, '-n', String(options.evaluatorNice), ...command]
          : command;
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env, ...options.envOf?.(name) },
    });
    children.push({ name, child });
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream]! }).on('line', (text) => {
        const line = parseChildLine(name, stream, text);
        options.logs.write(line);
        onLine?.(line);
        options.onLine?.(line);
      });
    }
    closed.push(
      new Promise<void>((resolve) =>
        child.on('close', (code, signal) => {
          options.onExit?.(name, code, signal, stopping);
          resolve();
        }),
      ),
    );
    return child;
  };

  try {
    let listening: (port: number) => void = () => {};
    const coordinator = start(
      'coordinator',
      ['coordinator', '--port', '0', '--host', '127.0.0.1', ...stopBudget(options.stopGraceMs), ...options.coordinatorArgs],
      undefined,
      (l) => {
        if (l.record?.msg === 'listening' && typeof l.record.port === 'number') listening(l.record.port);
      },
    );
    const exits: Promise<{ name: string; code: number | null; signal: string | null }>[] = [];
    const exitOf = (name: string, child: ChildProcess) =>
      new Promise<{ name: string; code: number | null; signal: string | null }>((resolve) =>
        child.on('close', (code, signal) => resolve({ name, code, signal })),
      );
    const coordinatorExit = exitOf('coordinator', coordinator);
    exits.push(coordinatorExit);

    // The coordinator logs its real port once it listens: workers are started then.
    const port = await new Promise<number>((resolve, reject) => {
      let found = false;
      listening = (p) => {
        if (found) return;
        found = true;
        resolve(p);
      };
      void coordinatorExit.then((e) => {
        if (!found) reject(new ClusterFailedError('coordinator', e.code, e.signal));
      });
    });
    // The run has started (the coordinator has checked and taken its run directory): the logs folder may be made.
    await options.logs.open();
    log.info({ port, workers: options.workers }, 'coordinator listening: starting workers');
    // The evaluator is restarted when it dies (its state makes a restart resume where it was); when it keeps
    // failing, the run fails at once saying so, rather than the coordinator waiting --evaluator-wait for a score
    // that cannot come.
    let evaluatorExit: Promise<{ name: string; code: number | null; signal: string | null }> | null = null;
    if (options.evaluatorArgs) {
      const evaluatorArgs = options.evaluatorArgs;
      const niceness = options.evaluatorNice ?? null;
      const nice = niceness !== null ? (findNice() ?? undefined) : undefined;
      const startEvaluator = () => {
        const child = start('evaluator', ['evaluator', '--coordinator', `127.0.0.1:${port}`, ...evaluatorArgs], undefined, undefined, nice);
        if (niceness !== null) {
          try {
            // Without nice(1): the main thread at least, where the scoring runs (wasm, or oneDNN at --threads 1).
            if (nice === undefined && child.pid !== undefined) setPriority(child.pid, niceness);
            log.info({ nice: niceness, via: nice ?? 'os.setPriority' }, "evaluator at a lower priority: it shares the workers' CPUs");
          } catch (err) {
            log.warn(
              { err: (err as Error).message },
              "the evaluator could not be given a lower priority: it competes with the workers' CPUs",
            );
          }
        }
        return exitOf('evaluator', child);
      };
      const restarts = options.evaluatorRestarts ?? DEFAULT_EVALUATOR_RESTARTS;
      evaluatorExit = (async () => {
        for (let attempt = 0; ; attempt++) {
          const e = await startEvaluator();
          if (e.code === 0 || stopping) return e;
          if (attempt >= restarts) {
            log.error(
              { code: e.code, signal: e.signal, restarts },
              'the evaluator keeps failing: stopping the local cluster (its log says why)',
            );
            stopAll('SIGTERM');
            throw new ClusterFailedError('evaluator', e.code, e.signal, `failed ${attempt + 1} times`);
          }
          const delayMs = EVALUATOR_RESTART_DELAY_MS * 2 ** attempt;
          log.warn({ code: e.code, signal: e.signal, restart: attempt + 1, of: restarts, delayMs }, 'the evaluator failed: restarting it');
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          if (stopping) return e;
        }
      })();
      evaluatorExit.catch(() => {});
    }
    for (let i = 0; i < options.workers; i++) {
      const name = workerProcessName(i);
      const child = start(
        name,
        [
          'worker',
          '--coordinator',
          `127.0.0.1:${port}`,
          '--name',
          `local-${i}`,
          ...options.workerArgs,
          ...(options.workerArgsOf?.(i) ?? []),
        ],
        options.pinning?.cpuSets[i],
      );
      exits.push(exitOf(name, child));
    }

    // The run ends when the coordinator exits; a worker that fails stops everything.
    const failures = exits.slice(1).map((p) =>
      p.then((e) => {
        if (e.code !== 0 && !stopping) {
          log.error({ process: e.name, code: e.code, signal: e.signal }, 'a worker failed: stopping the local cluster');
          stopAll('SIGTERM');
          throw new ClusterFailedError(e.name, e.code, e.signal);
        }
        return e;
      }),
    );
    if (evaluatorExit) failures.push(evaluatorExit);
    // Read after the coordinator exits: mark them handled now, or Node ends the process on the first rejection.
    for (const f of failures) f.catch(() => {});
    const coordinatorResult = await coordinatorExit;
    // The evaluator ends by itself at run.finished; give it a moment to write its last lines.
    if (evaluatorExit && coordinatorResult.code === 0) {
      await Promise.race([evaluatorExit.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
    }
    stopAll('SIGTERM');
    const workerResults = await Promise.allSettled(failures);
    // Asked to stop: that is the outcome, whatever the processes' exit codes.
    if (interrupted) throw new InterruptedError(interrupted);
    // The first failure is the cause: a failed worker's stop also ends the coordinator.
    const failed = workerResults.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    if (coordinatorResult.code !== 0) throw new ClusterFailedError('coordinator', coordinatorResult.code, coordinatorResult.signal);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopAll('SIGTERM');
    // Every child's last lines are in its log before the launcher reports (SIGKILL follows the grace period).
    await Promise.all(closed);
    await options.logs.close();
  }
}
