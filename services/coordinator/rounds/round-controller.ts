import { randomBytes } from 'node:crypto';
import type { TrainConfig, TrainPlan } from '../../../src/runtime/config/train-config.js';
import type { RoundWork } from '../../../src/exchange/round-work.js';
import type { Logger } from '../../../src/runtime/logger.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { learningRateAt } from '../../../src/training/lr-schedule.js';
import { StagedContribution, WeightedSum } from '../aggregator/weighted-sum.js';
import { WorkerSpeeds } from '../balance/worker-speeds.js';
import { applySgd } from '../optimizer/sgd-update.js';
import type { VectorMemory } from '../../../src/compute/vector-math/index.js';
import type { RoundPlan } from '../sampler/round-plan.js';
import { CoordinatorClosedError, NotAMemberError, StaleContributionError, UnknownWorkerError, VersionUnavailableError } from './errors.js';

/** What the controller needs of the sampler (services/coordinator/sampler). */
export interface RoundSampler {
  readonly epoch: number;
  planRound(members: readonly string[], shares?: readonly number[]): RoundPlan;
  commit(plan: RoundPlan, contributed: readonly string[]): void;
  readonly epochDone: boolean;
  nextEpoch(): void;
  state(): unknown;
}

export type ControllerState = 'waiting' | 'running' | 'finished' | 'failed';

export interface Assignment extends RoundWork {
  deadlineUnixMs: number;
}

export interface Contribution {
  round: number;
  version: number;
  kind: 'gradients' | 'parameters';
  sampleCount: number;
  lossSum: number;
  correct: number;
  /** The values, or a contribution already summed as it arrived (stageContribution), committed here. */
  values: Float32Array | StagedContribution;
  /** The worker's own training time for the round's batches (0 when unknown). */
  trainMs?: number;
}

/** One member's contribution as the round saw it arrive. */
export interface Arrival {
  worker: string;
  samples: number;
  lossSum: number;
  correct: number;
  trainMs: number;
  /** From the round's start until the contribution was accepted. */
  arrivedMs: number;
}

/** A closed round, for events and metrics. */
export interface RoundSummary {
  round: number;
  epoch: number;
  /** The master's version after the round. */
  version: number;
  globalStep: number;
  members: number;
  samples: number;
  lr: number;
  roundMs: number;
  /** In order of arrival. */
  arrivals: Arrival[];
  evicted: string[];
  epochSamplesDone: number;
}

export type MembershipChange =
  | { kind: 'joined'; worker: string; name: string; members: number }
  | { kind: 'left'; worker: string; reason: string; members: number };

export interface EpochTotals {
  epoch: number;
  samples: number;
  lossSum: number;
  correct: number;
}

export interface ControllerHooks {
  /** Epoch end: evaluate, write metrics, checkpoint. The next round waits for it. */
  onEpochEnd(totals: EpochTotals, version: number): Promise<void>;
  /** Every `checkpointEveryRounds` rounds. */
  onCheckpoint(round: number): Promise<void>;
  /** A member joined or left (left, evicted): for events; must not throw. */
  onMembership?(change: MembershipChange): void;
  /** After each round that closed, before the epoch-end or checkpoint hooks; must not throw. */
  onRoundClosed?(summary: RoundSummary): void;
}

export interface ControllerOptions {
  config: TrainConfig;
  plan: TrainPlan;
  layout: readonly WeightSlice[];
  /** The master parameters (taken over, updated in place unless a fetch is reading them). */
  params: Float32Array;
  momentum: Float32Array;
  sampler: RoundSampler;
  /** Where the round's sums live (beside params, momentum and the receive scratch): the SIMD kernels then run in place. */
  vectors?: VectorMemory;
  /** Workers the first round waits for. */
  expectedWorkers: number;
  roundTimeoutMs: number;
  heartbeatTimeoutMs: number;
  checkpointEveryRounds: number;
  log: Logger;
  hooks: ControllerHooks;
  /** Checkpoint versions kept fetchable after the master moves on (for the evaluator); default 2. */
  retainVersions?: number;
  /** Counters restored from a checkpoint. */
  resume?: { version: number; globalStep: number; round: number; optimizerSteps: number; epochTotals: EpochTotals };
}

interface Member {
  id: string;
  name: string;
  lastSeenMs: number;
}

interface OpenRound {
  plan: RoundPlan;
  version: number;
  globalStep: number;
  lrs: number[];
  members: string[];
  contributed: Set<string>;
  kind: 'gradients' | 'parameters';
  deadlineUnixMs: number;
  startedMs: number;
  arrivals: Arrival[];
  timer: NodeJS.Timeout;
}

type Waiter = { worker: string; fromRound: number; resolve: (a: Assignment | null) => void; reject: (e: Error) => void };

/**
 * The coordinator's rounds. Membership changes only between rounds: a worker
 * that registers waits for the next round; a member that neither contributes
 * by the deadline nor heartbeats is evicted, and its batches go back to the
 * sampler's pool. A round closes when every member that has work contributed
 * (or at the deadline); the sample-weighted average then becomes new master
 * parameters (version + 1): through SGD for gradients, as they are for
 * parameters (local SGD). BatchNorm statistics are averaged either way.
 * With --balance speed, each round's shards follow the members' measured
 * speeds (WorkerSpeeds, fed by every contribution's training time).
 */
export class RoundController {
  private lifecycle: ControllerState = 'waiting';
  private readonly members = new Map<string, Member>();
  private readonly sum: WeightedSum;
  private params: Float32Array;
  private readonly momentum: Float32Array;
  private version: number;
  private globalStep: number;
  private optimizerSteps: number;
  private nextWorkerNumber = 1;
  private readonly instanceTag = randomBytes(3).toString('hex');
  private open: OpenRound | null = null;
  private lastRound: number;
  private waiters: Waiter[] = [];
  private readers = 0;
  private closing: Promise<void> | null = null;
  private epochTotals: EpochTotals;
  private finishedResolve!: () => void;
  private finishedReject!: (e: Error) => void;
  readonly finished: Promise<void>;
  private heartbeatTimer: NodeJS.Timeout;
  /** Copies of recent checkpoint versions, oldest first. */
  private retained: { version: number; values: Float32Array }[] = [];
  /** Measured by every contribution; used to cut rounds only with --balance speed. */
  private readonly speeds = new WorkerSpeeds();

  constructor(private readonly o: ControllerOptions) {
    this.sum = new WeightedSum(o.params.length, o.vectors);
    this.params = o.params;
    this.momentum = o.momentum;
    this.version = o.resume?.version ?? 1;
    this.globalStep = o.resume?.globalStep ?? 0;
    this.optimizerSteps = o.resume?.optimizerSteps ?? 0;
    this.lastRound = o.resume?.round ?? 0;
    this.epochTotals = o.resume?.epochTotals ?? { epoch: o.sampler.epoch, samples: 0, lossSum: 0, correct: 0 };
    this.finished = new Promise((resolve, reject) => { this.finishedResolve = resolve; this.finishedReject = reject; });
    this.finished.catch(() => {});
    this.heartbeatTimer = setInterval(() => this.evictSilent(), Math.max(100, o.heartbeatTimeoutMs / 4));
    this.heartbeatTimer.unref();
  }

  get state(): ControllerState {
    return this.lifecycle;
  }

  /** Counters and sampler state for a checkpoint (taken between rounds). */
  snapshot(): { version: number; globalStep: number; round: number; optimizerSteps: number; epochTotals: EpochTotals; sampler: unknown; params: Float32Array; momentum: Float32Array } {
    return {
      version: this.version, globalStep: this.globalStep, round: this.lastRound, optimizerSteps: this.optimizerSteps,
      epochTotals: { ...this.epochTotals }, sampler: this.o.sampler.state(), params: this.params, momentum: this.momentum,
    };
  }

  /** A member silent this long is evicted (--heartbeat-timeout). */
  get heartbeatTimeoutMs(): number {
    return this.o.heartbeatTimeoutMs;
  }

  get currentVersion(): number {
    return this.version;
  }

  memberCount(): number {
    return this.members.size;
  }

  register(name: string): string {
    this.assertAlive();
    // Fixed width, so string order (the sampler's member order) is the order of
    // joining; the instance tag keeps a restarted coordinator from handing out
    // an id a worker of the previous instance still uses.
    const id = `w${String(this.nextWorkerNumber++).padStart(6, '0')}-${this.instanceTag}`;
    this.members.set(id, { id, name, lastSeenMs: Date.now() });
    this.o.log.info({ worker: id, name, members: this.members.size }, 'worker registered');
    this.o.hooks.onMembership?.({ kind: 'joined', worker: id, name, members: this.members.size });
    if (this.lifecycle === 'waiting' && this.members.size >= this.o.expectedWorkers) {
      this.lifecycle = 'running';
      this.startRound();
    } else if (this.lifecycle === 'running' && !this.open && !this.closing) {
      this.startRound();
    }
    return id;
  }

  heartbeat(worker: string): boolean {
    const member = this.members.get(worker);
    if (member) member.lastSeenMs = Date.now();
    return member !== undefined;
  }

  leave(worker: string, reason: string): void {
    if (!this.members.delete(worker)) return;
    this.o.log.info({ worker, reason }, 'worker left');
    this.o.hooks.onMembership?.({ kind: 'left', worker, reason, members: this.members.size });
    this.maybeCloseAfterChange();
  }

  /** Resolves with the worker's assignment in the first round numbered `fromRound` or later, or null when the run is over. */
  nextRound(worker: string, fromRound: number): Promise<Assignment | null> {
    if (this.lifecycle === 'finished') return Promise.resolve(null);
    this.assertAlive();
    if (!this.members.has(worker)) return Promise.reject(new UnknownWorkerError(worker));
    this.heartbeat(worker);
    const ready = this.assignmentFor(worker, fromRound);
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => this.waiters.push({ worker, fromRound, resolve, reject }));
  }

  /** Validates and adds a contribution; the round closes when the last member's arrives. */
  contribute(worker: string, c: Contribution): { round: number; nextVersion: number } {
    this.assertAlive();
    if (!this.members.has(worker)) throw new UnknownWorkerError(worker);
    const open = this.open;
    if (!open || c.round !== open.plan.round) throw new StaleContributionError(worker, c.round, open?.plan.round ?? null, 'not the open round');
    if (c.version !== open.version) throw new StaleContributionError(worker, c.round, open.plan.round, `started from version ${c.version}, the round's is ${open.version}`);
    if (!open.plan.waitFor.includes(worker)) throw new NotAMemberError(worker, c.round, 'not a member of this round');
    if (open.contributed.has(worker)) throw new NotAMemberError(worker, c.round, 'already contributed');
    if (c.kind !== open.kind) throw new StaleContributionError(worker, c.round, open.plan.round, `expected ${open.kind}, got ${c.kind}`);
    const expectedSamples = open.plan.assignments.find((a) => a.worker === worker)!.samples;
    if (c.sampleCount !== expectedSamples) throw new NotAMemberError(worker, c.round, `sample count ${c.sampleCount}, assigned ${expectedSamples}`);
    if (c.values instanceof StagedContribution) {
      if (c.values.weight !== c.sampleCount) throw new NotAMemberError(worker, c.round, `staged with weight ${c.values.weight}, sample count ${c.sampleCount}`);
      this.sum.commit(c.values);
    } else {
      this.sum.add(c.values, c.sampleCount);
    }
    open.contributed.add(worker);
    open.arrivals.push({ worker, samples: c.sampleCount, lossSum: c.lossSum, correct: c.correct, trainMs: c.trainMs ?? 0, arrivedMs: Date.now() - open.startedMs });
    this.speeds.record(worker, c.sampleCount, c.trainMs ?? 0);
    this.epochTotals.samples += c.sampleCount;
    this.epochTotals.lossSum += c.lossSum;
    this.epochTotals.correct += c.correct;
    this.heartbeat(worker);
    const nextVersion = this.version + 1;
    this.maybeCloseAfterChange();
    return { round: open.plan.round, nextVersion };
  }

  /**
   * A contribution of `sampleCount` samples to sum as its chunks arrive
   * (WeightedSum.stage), for `contribute` to commit after its checks. Drop
   * it with `discardContribution` when it is refused: the sum never saw it.
   */
  stageContribution(sampleCount: number): StagedContribution {
    this.assertAlive();
    return this.sum.stage(sampleCount);
  }

  discardContribution(staged: StagedContribution): void {
    this.sum.discard(staged);
  }

  /**
   * The parameters of `version` (0 = current) for a reader that streams them
   * out; call `release` when done. A round closing meanwhile writes a copy.
   */
  acquireParameters(version: number): { version: number; values: Float32Array; release: () => void } {
    if (version !== 0 && version !== this.version) {
      const kept = this.retained.find((r) => r.version === version);
      if (!kept) throw new VersionUnavailableError(version, this.version, this.retainedVersions());
      // Retained copies never change: nothing to count.
      return { version, values: kept.values, release: () => {} };
    }
    this.readers++;
    let released = false;
    return {
      version: this.version, values: this.params,
      release: () => { if (!released) { released = true; this.readers--; } },
    };
  }

  /** Older versions still fetchable, oldest first. */
  retainedVersions(): number[] {
    return this.retained.map((r) => r.version);
  }

  /**
   * Keeps a copy of the current version fetchable after the master moves on
   * (called at checkpoints, so the evaluator can fetch every checkpoint it is
   * told of). The oldest copy's memory is reused.
   */
  retainCurrentVersion(): void {
    const limit = this.o.retainVersions ?? 2;
    if (limit <= 0 || this.retained.some((r) => r.version === this.version)) return;
    const reuse = this.retained.length >= limit ? this.retained.shift()!.values : null;
    const values = reuse ?? new Float32Array(this.params.length);
    values.set(this.params);
    this.retained.push({ version: this.version, values });
  }

  /** Stops: pending waits fail, the run is marked failed unless it finished. */
  close(reason: string): void {
    clearInterval(this.heartbeatTimer);
    if (this.open) clearTimeout(this.open.timer);
    if (this.lifecycle !== 'finished') {
      this.lifecycle = 'failed';
      const err = new CoordinatorClosedError(`coordinator closed: ${reason}`);
      for (const w of this.waiters.splice(0)) w.reject(err);
      this.finishedReject(err);
    }
  }

  private assertAlive(): void {
    if (this.lifecycle === 'failed') throw new CoordinatorClosedError('coordinator is closed');
  }

  private assignmentFor(worker: string, fromRound: number): Assignment | null {
    const open = this.open;
    if (!open || open.plan.round < fromRound) return null;
    const memberIndex = open.members.indexOf(worker);
    if (memberIndex < 0) return null;
    const assignment = open.plan.assignments[memberIndex]!;
    return {
      round: open.plan.round, epoch: open.plan.epoch, version: open.version, globalStep: open.globalStep, memberIndex,
      batches: assignment.batches.map((indices, k) => ({ indices, lr: open.lrs[k]! })),
      deadlineUnixMs: open.deadlineUnixMs,
    };
  }

  private startRound(): void {
    const members = [...this.members.keys()].sort();
    if (members.length === 0) return; // waits for the next registration
    // Silence measured from the round's start: a member is not to blame for
    // the coordinator's own pause (evaluation, checkpoint) between rounds.
    const now = Date.now();
    for (const member of this.members.values()) member.lastSeenMs = now;
    this.speeds.keepOnly(members);
    const shares = this.o.config.balance === 'speed' ? this.speeds.shares(members) : undefined;
    const plan = this.o.sampler.planRound(members, shares);
    const kind = this.o.config.syncEvery === 1 ? 'gradients' : 'parameters';
    const schedule = { baseLr: this.baseLr(), minLr: this.o.config.minLr, warmupSteps: this.o.plan.warmupSteps, totalSteps: this.o.plan.totalSteps };
    const steps = Math.max(1, ...plan.assignments.map((a) => a.batches.length));
    const lrs = Array.from({ length: steps }, (_, k) => learningRateAt(this.globalStep + k, schedule));
    const deadlineUnixMs = Date.now() + this.o.roundTimeoutMs;
    const timer = setTimeout(() => this.closeRound('deadline'), this.o.roundTimeoutMs);
    timer.unref();
    this.open = { plan, version: this.version, globalStep: this.globalStep, lrs, members, contributed: new Set(), kind, deadlineUnixMs, startedMs: now, arrivals: [], timer };
    this.o.log.debug({ round: plan.round, epoch: plan.epoch, members: members.length, samples: plan.samples, fromPool: plan.fromPool, shards: plan.assignments.map((a) => a.samples) }, 'round started');
    this.wakeWaiters();
    if (plan.waitFor.length === 0) this.closeRound('no work');
  }

  private baseLr(): number {
    return this.o.config.lrScaling === 'linear' ? this.o.config.lr * this.o.config.workers : this.o.config.lr;
  }

  private wakeWaiters(): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.lifecycle === 'finished') { w.resolve(null); continue; }
      if (!this.members.has(w.worker)) { w.reject(new UnknownWorkerError(w.worker)); continue; }
      const a = this.assignmentFor(w.worker, w.fromRound);
      if (a) w.resolve(a);
      else still.push(w);
    }
    this.waiters = still;
  }

  private maybeCloseAfterChange(): void {
    const open = this.open;
    if (!open || this.closing) return;
    const pending = open.plan.waitFor.filter((w) => !open.contributed.has(w) && this.members.has(w));
    if (pending.length === 0) this.closeRound('complete');
  }

  private evictSilent(): void {
    if (!this.open) return;
    const now = Date.now();
    for (const member of [...this.members.values()]) {
      if (now - member.lastSeenMs > this.o.heartbeatTimeoutMs && !this.open.contributed.has(member.id)) {
        this.members.delete(member.id);
        this.o.log.warn({ worker: member.id, name: member.name, round: this.open.plan.round, silentMs: now - member.lastSeenMs }, 'worker evicted: no heartbeat');
        this.o.hooks.onMembership?.({ kind: 'left', worker: member.id, reason: `evicted: no heartbeat for ${Math.round((now - member.lastSeenMs) / 1000)} s`, members: this.members.size });
      }
    }
    this.maybeCloseAfterChange();
  }

  private closeRound(why: 'complete' | 'deadline' | 'no work'): void {
    if (this.closing || !this.open) return;
    const open = this.open;
    clearTimeout(open.timer);
    this.closing = this.finishRound(open, why).then(
      () => { this.closing = null; },
      (err: unknown) => {
        this.closing = null;
        this.o.log.error({ err, round: open.plan.round }, 'round failed');
        this.close(`round ${open.plan.round} failed: ${(err as Error).message}`);
      },
    );
  }

  private async finishRound(open: OpenRound, why: string): Promise<void> {
    const contributed = [...open.contributed];
    const evicted: string[] = [];
    for (const worker of open.plan.waitFor) {
      if (!open.contributed.has(worker) && this.members.delete(worker)) {
        evicted.push(worker);
        this.o.log.warn({ worker, round: open.plan.round, why }, 'worker evicted: no contribution by the deadline');
        this.o.hooks.onMembership?.({ kind: 'left', worker, reason: `evicted: no contribution to round ${open.plan.round} by the deadline`, members: this.members.size });
      }
    }
    this.o.sampler.commit(open.plan, contributed);
    if (this.sum.contributions > 0) {
      if (this.readers > 0) this.params = this.params.slice(); // a fetch is streaming the old version
      const averaged = this.sum.average();
      if (open.kind === 'gradients') {
        applySgd(this.params, this.momentum, averaged, this.o.layout, { lr: open.lrs[0]!, momentum: this.o.config.momentum, weightDecay: this.o.config.weightDecay }, this.optimizerSteps === 0);
        this.optimizerSteps++;
      } else {
        this.params.set(averaged);
      }
      this.version++;
      this.globalStep += open.lrs.length;
    }
    this.sum.reset();
    this.open = null;
    this.lastRound = open.plan.round;
    this.o.log.info({ round: open.plan.round, epoch: open.plan.epoch, version: this.version, contributed: contributed.length, evicted: open.plan.waitFor.length - contributed.length, why }, 'round closed');
    this.o.hooks.onRoundClosed?.({
      round: open.plan.round, epoch: open.plan.epoch, version: this.version, globalStep: this.globalStep, members: open.members.length,
      samples: open.arrivals.reduce((n, a) => n + a.samples, 0), lr: open.lrs[0] ?? 0, roundMs: Date.now() - open.startedMs,
      arrivals: open.arrivals, evicted, epochSamplesDone: this.epochTotals.samples,
    });

    if (this.o.sampler.epochDone) {
      const totals = this.epochTotals;
      await this.o.hooks.onEpochEnd(totals, this.version);
      if (totals.epoch >= this.o.config.epochs) {
        this.lifecycle = 'finished';
        clearInterval(this.heartbeatTimer);
        this.wakeWaiters();
        this.finishedResolve();
        return;
      }
      this.o.sampler.nextEpoch();
      this.epochTotals = { epoch: this.o.sampler.epoch, samples: 0, lossSum: 0, correct: 0 };
    } else if (this.o.checkpointEveryRounds > 0 && (open.plan.round + 1) % this.o.checkpointEveryRounds === 0) {
      await this.o.hooks.onCheckpoint(open.plan.round);
    }
    this.startRound();
  }
}
