import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../src/runtime/logger.js';
import { FleetError } from '../../src/runtime/errors.js';
import { InterruptedError } from '../../src/training/errors.js';
import type { SweepRecord, TrialRecord } from '../../src/training/run-record/sweep-record.js';
import type { SlotPlan } from './cpu-budget.js';
import type { Pruner } from './pruners.js';
import type { SweepEvents } from './sweep-events.js';
import type { SweepState } from './sweep-state.js';
import { bestOf, followCurve, readCurve, type CurvePoint } from './trial-curve.js';
import { lastErrorLine, spawnTrial, type TrialExit, type TrialProcess } from './trial-process.js';
import { findTrialProcesses, pidFileOf, readTrialPid, removeTrialPid, stopOrphan, writeTrialPid } from './trial-pids.js';

export interface SweepDriverOptions {
  /** SWEEP_DIR: sweep.json, trials/<id>.yaml (each trial's --config), trials/<id>/ (its run), trials/<id>.log. */
  dir: string;
  state: SweepState;
  slots: SlotPlan;
  workersPerTrial: number;
  /** --data-dir for every trial, or null (each trial's config, else fleet train's default). */
  dataDir: string | null;
  /** Null: no pruning. */
  pruner: Pruner | null;
  /** results.csv, results.md, best.yaml from the record: after each trial ends and at the end. */
  writeResults: (record: Readonly<SweepRecord>) => Promise<void>;
  events: SweepEvents;
  log: Logger;
  /** How long a trial (or a leftover one) gets after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  /** Poll period of the trials' metrics.jsonl (default 100 ms). */
  pollMs?: number;
}

/** Every trial of the sweep failed: nothing to compare (exit 1). */
export class SweepFailedError extends FleetError {
  constructor(
    readonly dir: string,
    readonly failed: number,
  ) {
    super(`every trial of the sweep failed (${failed}): see their logs, ${join(dir, 'trials', '<id>.log')}`);
  }
}

/** The sweep was stopped (SIGINT, SIGTERM): exit 130/143, and --resume continues it. */
export class SweepInterruptedError extends InterruptedError {
  constructor(
    signal: string,
    readonly dir: string,
  ) {
    super(signal);
    this.message = `sweep interrupted by ${signal}: the running trials kept their checkpoints; continue with fleet sweep SPEC --out ${dir} --resume`;
  }
}

/** The trials folder of a sweep directory. */
export const trialsDirOf = (dir: string): string => join(dir, 'trials');
export const trialConfigPath = (dir: string, id: string): string => join(trialsDirOf(dir), `${id}.yaml`);
export const trialLogPath = (dir: string, id: string): string => join(trialsDirOf(dir), `${id}.log`);
export const trialRunId = (sweepId: string, id: string): string => `${sweepId}-${id}`;

const ENDED = new Set<TrialRecord['status']>(['finished', 'pruned', 'failed']);

/**
 * Runs a sweep's trials to the end: each a `fleet train` child process
 * (trial-process.ts), at most `slots.parallel` at once, each with its share
 * of the CPUs (or its GPUs). Follows each trial's metrics.jsonl for its
 * curve, asks the pruner after each epoch and stops a trial it prunes with
 * SIGTERM (it writes a checkpoint and exits). Every change goes to
 * sweep.json, so a driver killed at any point is resumed from the record:
 * trials left running (their processes stopped first, by pid file) continue
 * from their checkpoints, pending ones start, ended ones stay as they are.
 */
export async function runSweep(o: SweepDriverOptions): Promise<Readonly<SweepRecord>> {
  const { state, log } = o;
  const dir = o.dir;
  const sweepId = state.record.sweepId;
  const trialsDir = trialsDirOf(dir);
  await mkdir(trialsDir, { recursive: true });

  const resumed = await recoverLeftovers(o);
  const queue = [
    ...state.record.trials.filter((t) => t.status === 'running').map((t) => ({ id: t.id, resume: true })),
    ...state.record.trials.filter((t) => t.status === 'pending').map((t) => ({ id: t.id, resume: false })),
  ];
  state.change((r) => {
    r.status = 'running';
    r.finishedAt = null;
  });
  await state.flush();
  o.events.publish('sweep.started', {
    name: state.record.name,
    metric: state.record.metric,
    varied: state.record.varied,
    pruning: state.record.pruning.rule,
    parallel: o.slots.parallel,
    workersPerTrial: o.workersPerTrial,
    resumed,
    trials: state.record.trials.map((t) => ({ trial: t.id, params: t.params, status: t.status })),
  });
  log.info(
    {
      sweep: sweepId,
      trials: state.record.trials.length,
      toRun: queue.length,
      parallel: o.slots.parallel,
      workersPerTrial: o.workersPerTrial,
      threadsPerWorker: o.slots.threadsPerWorker,
      gpus: o.slots.gpuSets,
      resumed,
    },
    queue.length === 0 ? 'sweep: every trial has ended already' : 'sweep started',
  );

  // Curves of every trial, for the pruner (ended trials' from the record).
  const curves = new Map<string, CurvePoint[]>(state.record.trials.map((t) => [t.id, [...t.curve]]));
  const running = new Map<string, TrialProcess>();
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== null) return;
    interrupted = signal;
    log.warn(
      { signal, running: [...running.keys()] },
      'sweep interrupted: stopping the running trials (they keep their checkpoints: --resume continues them)',
    );
    for (const p of running.values()) p.signal('SIGTERM');
    setTimeout(() => {
      for (const p of running.values()) p.signalGroup('SIGKILL');
    }, o.stopGraceMs).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const freeSlots = Array.from({ length: o.slots.parallel }, (_, s) => s).reverse();
  const active = new Set<Promise<void>>();
  // The driver's own failure (a file it could not write): no more trials start, the running ones end, then it is thrown.
  let failure: { err: unknown } | null = null;
  try {
    for (;;) {
      while (queue.length > 0 && freeSlots.length > 0 && interrupted === null && failure === null) {
        const next = queue.shift()!;
        const slot = freeSlots.pop()!;
        const done: Promise<void> = runTrial(o, next.id, slot, next.resume, curves, running, () => interrupted !== null)
          .catch((err: unknown) => {
            log.error({ err, trial: next.id }, 'sweep: could not run a trial; no more trials start');
            failure ??= { err };
          })
          .finally(() => {
            active.delete(done);
            freeSlots.push(slot);
          });
        active.add(done);
      }
      if (active.size === 0) break;
      await Promise.race(active);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (failure !== null) throw (failure as { err: unknown }).err;
  if (interrupted !== null) {
    await state.flush();
    await o.writeResults(state.record);
    throw new SweepInterruptedError(interrupted, dir);
  }

  const trials = state.record.trials;
  const count = (s: TrialRecord['status']) => trials.filter((t) => t.status === s).length;
  const failedAll = trials.length > 0 && count('failed') === trials.length;
  state.change((r) => {
    r.status = failedAll ? 'failed' : 'finished';
    r.finishedAt = new Date().toISOString();
  });
  await state.flush();
  await o.writeResults(state.record);
  const best = bestTrial(trials);
  o.events.publish('sweep.finished', {
    status: state.record.status === 'failed' ? 'failed' : 'finished',
    finished: count('finished'),
    pruned: count('pruned'),
    failed: count('failed'),
    best: best ? { trial: best.id, value: best.best!.value } : null,
  });
  log.info(
    {
      sweep: sweepId,
      finished: count('finished'),
      pruned: count('pruned'),
      failed: count('failed'),
      best: best ? { trial: best.id, params: best.params, value: best.best!.value, epoch: best.best!.epoch } : null,
      dir,
    },
    'sweep finished',
  );
  if (failedAll) throw new SweepFailedError(dir, trials.length);
  return state.record;
}

/**
 * Before a resumed driver starts anything: a trial the record says is
 * running may still be, started by the driver that was killed. Its process
 * (by pid file, checked to be that trial's) is stopped first; one the
 * pruner had already stopped is recorded as pruned. Returns whether the
 * sweep had started before.
 */
async function recoverLeftovers(o: SweepDriverOptions): Promise<boolean> {
  const { state, log } = o;
  const trialsDir = trialsDirOf(o.dir);
  let resumed = false;
  for (const t of state.record.trials) {
    if (t.status !== 'pending') resumed = true;
    const pidFile = pidFileOf(trialsDir, t.id);
    const pid = await readTrialPid(pidFile);
    const runId = trialRunId(state.record.sweepId, t.id);
    // By its pid file; for a running trial also by its run id in any command line (a pid file may not have been written yet).
    const pids = new Set(pid !== null && pid.runId === runId ? [pid.pid] : []);
    if (t.status === 'running') for (const p of await findTrialProcesses(runId)) pids.add(p);
    for (const p of pids) {
      if (await stopOrphan({ pid: p, runId, graceMs: o.stopGraceMs })) {
        log.warn({ trial: t.id, pid: p, run: runId }, 'sweep --resume: stopped the trial left running by the earlier driver');
      }
    }
    if (pid !== null) await removeTrialPid(pidFile);
    if (t.status !== 'running') continue;
    // Its epochs as its run directory holds them (the earlier driver may not have recorded the last).
    const curve = await readCurve(join(o.dir, t.runDir), state.record.metric);
    state.changeTrial(t.id, (x) => {
      x.curve = curve;
      x.epochsRun = curve.length;
      x.best = bestOf(curve);
      if (x.prunedAt !== null) {
        x.status = 'pruned';
        x.endedAt ??= new Date().toISOString();
      }
    });
  }
  await state.flush();
  return resumed;
}

async function runTrial(
  o: SweepDriverOptions,
  id: string,
  slot: number,
  resume: boolean,
  curves: Map<string, CurvePoint[]>,
  running: Map<string, TrialProcess>,
  stopping: () => boolean,
): Promise<void> {
  const { state } = o;
  const sweepId = state.record.sweepId;
  const trial = state.trial(id);
  const runDir = join(o.dir, trial.runDir);
  const runId = trialRunId(sweepId, id);
  const log = o.log.child({ trial: id });
  const configFile = trialConfigPath(o.dir, id);
  const epochs = await epochsOf(configFile);
  const gpus = o.slots.gpuSets?.[slot] ?? null;
  const args = [
    'train',
    '--config',
    configFile,
    '--out',
    runDir,
    '--run-id',
    runId,
    '--progress',
    'log',
    '--workers',
    String(o.workersPerTrial),
    '--threads',
    String(o.slots.threadsPerWorker),
    ...(o.dataDir !== null ? ['--data-dir', o.dataDir] : []),
    // Continued from its checkpoint when it has one (else started over in place).
    ...(resume ? ['--resume', 'auto'] : []),
  ];

  state.changeTrial(id, (t) => {
    t.status = 'running';
    t.startedAt ??= new Date().toISOString();
    t.endedAt = null;
    t.error = null;
  });
  // Running before the process exists: a driver killed in between restarts it with --resume auto (nothing there: a fresh start).
  await state.flush();
  const proc = await spawnTrial({ args, env: trialEnv(gpus), logFile: trialLogPath(o.dir, id) });
  running.set(id, proc);
  const pidFile = pidFileOf(trialsDirOf(o.dir), id);
  await writeTrialPid(pidFile, { pid: proc.pid, runId });
  log.info({ pid: proc.pid, params: trial.params, seed: trial.seed, slot, gpus, resume, log: trialLogPath(o.dir, id) }, 'trial started');
  o.events.publish('trial.started', { trial: id, params: trial.params, seed: trial.seed, repeat: trial.repeat, runId, resumed: resume });

  let decided = state.trial(id).curve.length;
  let killTimer: NodeJS.Timeout | null = null;
  // Once the process has exited its last epochs are recorded, not judged: it ended as it ended.
  let exited = false;
  const onCurve = (curve: CurvePoint[]): void => {
    curves.set(id, curve);
    const before = state.trial(id).curve.length;
    state.changeTrial(id, (t) => {
      t.curve = curve;
      t.epochsRun = curve.length;
      t.best = bestOf(curve);
    });
    for (let i = Math.max(0, Math.min(before, curve.length)); i < curve.length; i++) {
      const p = curve[i]!;
      const best = bestOf(curve.slice(0, i + 1))!.value;
      o.events.publish('trial.epoch', { trial: id, epoch: p.epoch, value: p.value, best });
      // The sweep's progress in its own log: a trial's epochs, not only its start and end.
      log.info({ epoch: p.epoch, of: epochs, value: p.value, best }, 'trial epoch scored');
    }
    // Each epoch once, in order; not the last (the trial is ending anyway), not once it is being stopped.
    for (; decided < curve.length; decided++) {
      const upTo = curve.slice(0, decided + 1);
      const epoch = upTo[upTo.length - 1]!.epoch;
      if (o.pruner === null || exited || state.trial(id).prunedAt !== null || stopping() || (epochs !== null && epoch >= epochs)) continue;
      const decision = o.pruner.decide(id, upTo, curves);
      if (decision.continue) continue;
      log.info({ epoch, rule: decision.rule, reason: decision.reason }, 'trial pruned: stopping it');
      state.changeTrial(id, (t) => {
        t.prunedAt = { epoch, rule: decision.rule, reason: decision.reason };
      });
      proc.signal('SIGTERM');
      // A trial that does not end within the grace period is killed, its launcher's processes too.
      killTimer = setTimeout(() => proc.signalGroup('SIGKILL'), o.stopGraceMs);
      killTimer.unref();
    }
  };
  const follower = followCurve(runDir, state.record.metric, onCurve, o.pollMs);
  let exit: TrialExit;
  try {
    exit = await proc.exited;
  } finally {
    exited = true;
    if (killTimer !== null) clearTimeout(killTimer);
    await follower.stop();
    running.delete(id);
  }
  // The last epoch may have landed between two polls.
  onCurve(await readCurve(runDir, state.record.metric));
  await removeTrialPid(pidFile);

  const now = new Date().toISOString();
  const t = state.trial(id);
  if (exit.code === 0) {
    state.changeTrial(id, (x) => {
      x.status = 'finished';
      // Pruned after its last epoch had started: it ran to the end, that is what counts.
      x.prunedAt = null;
      x.endedAt = now;
    });
    log.info({ best: t.best, epochs: t.epochsRun }, 'trial finished');
    o.events.publish('trial.finished', {
      trial: id,
      status: 'finished',
      epochs: t.epochsRun,
      best: t.best?.value ?? null,
      bestEpoch: t.best?.epoch ?? null,
      reason: null,
    });
  } else if (t.prunedAt !== null) {
    state.changeTrial(id, (x) => {
      x.status = 'pruned';
      x.endedAt = now;
    });
    o.events.publish('trial.pruned', {
      trial: id,
      epoch: t.prunedAt.epoch,
      rule: t.prunedAt.rule,
      reason: t.prunedAt.reason,
      best: t.best?.value ?? null,
    });
  } else if (stopping()) {
    // Stopped with the sweep: still running as far as the record goes, so --resume continues it from its checkpoint.
    log.info({ code: exit.code, signal: exit.signal }, 'trial stopped with the sweep');
  } else {
    const reason = (await lastErrorLine(trialLogPath(o.dir, id))) ?? describeExit(exit);
    state.changeTrial(id, (x) => {
      x.status = 'failed';
      x.error = reason;
      x.endedAt = now;
    });
    log.warn({ code: exit.code, signal: exit.signal, reason, log: trialLogPath(o.dir, id) }, 'trial failed');
    o.events.publish('trial.finished', {
      trial: id,
      status: 'failed',
      epochs: t.epochsRun,
      best: t.best?.value ?? null,
      bestEpoch: t.best?.epoch ?? null,
      reason,
    });
  }
  await state.flush();
  if (ENDED.has(state.trial(id).status)) await o.writeResults(state.record);
}

/**
 * The trial's environment: the driver's, without its FLEET_* variables (a
 * trial's settings are its config file and the flags the driver gives, a
 * FLEET_EPOCHS meant for something else must not override them), JSON logs,
 * and with --gpus the trial's GPUs.
 */
function trialEnv(gpus: string[] | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLEET_')) env[k] = v;
  env.FLEET_LOG_PRETTY = '0';
  if (gpus !== null) env.CUDA_VISIBLE_DEVICES = gpus.join(',');
  return env;
}

/** The trial's epochs from its config file (fleet train's default when it names none); null when unreadable. */
async function epochsOf(configFile: string): Promise<number | null> {
  try {
    const { parse } = await import('yaml');
    const doc = parse(await readFile(configFile, 'utf8')) as Record<string, unknown> | null;
    const epochs = Number(doc?.epochs ?? 30);
    return Number.isInteger(epochs) && epochs > 0 ? epochs : null;
  } catch {
    return null;
  }
}

function describeExit(exit: TrialExit): string {
  return exit.code !== null ? `fleet train exited with code ${exit.code}` : `fleet train was killed by ${exit.signal}`;
}

/** The trial with the highest best value (finished or pruned ones, and failed ones that scored). */
export function bestTrial(trials: readonly TrialRecord[]): TrialRecord | null {
  let best: TrialRecord | null = null;
  for (const t of trials) if (t.best !== null && (best === null || t.best.value > best.best!.value)) best = t;
  return best;
}
