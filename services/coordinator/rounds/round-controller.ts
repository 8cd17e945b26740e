import type { VectorMemory } from '../../../src/compute/vector-math/index.js';
import type { TrainConfig, TrainPlan } from '../../../src/runtime/config/train-config.js';
import type { Logger } from '../../../src/runtime/logger.js';
import type { StagedContribution } from '../aggregator/weighted-sum.js';
import type { ContributionCheck } from '../aggregator/contribution-check.js';
import { Membership } from '../membership/membership.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { ParameterStore, type ParameterLease } from '../parameters/parameter-store.js';
import { RoundRunner, type DrainOutcome } from './round-runner.js';
import { RunFullError } from './errors.js';
import type {
  Assignment,
  Contribution,
  ControllerHooks,
  ControllerState,
  ResumeCounters,
  RoundSampler,
  ShardRounds,
} from './round-types.js';

export type { MembershipChange } from '../membership/membership.js';
export type { ParameterLease } from '../parameters/parameter-store.js';
export type { DrainOutcome } from './round-runner.js';
export type * from './round-types.js';

export interface ControllerOptions {
  config: TrainConfig;
  plan: TrainPlan;
  layout: readonly WeightSlice[];
  /** The slices a round of an epoch exchanges (--freeze-epochs: the trainable subset); the whole layout when absent. */
  exchangeOf?: (epoch: number) => readonly WeightSlice[];
  /** --shards K > 1: the other slices' aggregators (this controller sums and updates shard 0, which exchangeOf names). */
  shards?: ShardRounds;
  /** The master parameters (taken over, updated in place unless a fetch is reading them). */
  params: Float32Array;
  momentum: Float32Array;
  sampler: RoundSampler;
  /** The contribution check (--contribution-check): garbage gradients refused, repeat offenders quarantined. */
  contributionCheck?: ContributionCheck;
  /** Where the round's sums live (beside params, momentum and the receive scratch): the SIMD kernels then run in place. */
  vectors?: VectorMemory;
  /** Workers the first round waits for (--workers N, or MIN of MIN:MAX). */
  expectedWorkers: number;
  /** Below this many members no round starts (MIN of --workers MIN:MAX); default 1. */
  minWorkers?: number;
  /** Registrations beyond this many members are refused with RunFullError (MAX); default: no limit. */
  maxWorkers?: number;
  roundTimeoutMs: number;
  heartbeatTimeoutMs: number;
  checkpointEveryRounds: number;
  /** Also checkpoint once this long has passed since the last; 0 or absent: by rounds only. */
  checkpointEveryMs?: number;
  log: Logger;
  hooks: ControllerHooks;
  /** Checkpoint versions kept fetchable after the master moves on (for the evaluator); default 2. */
  retainVersions?: number;
  /** Counters restored from a checkpoint. */
  resume?: ResumeCounters;
}

/** The state a checkpoint saves, taken between rounds. */
export interface ControllerSnapshot extends ResumeCounters {
  sampler: unknown;
  params: Float32Array;
  momentum: Float32Array;
}

/**
 * The coordinator's rounds as its RPC service and run see them: membership
 * (join, heartbeat, eviction), the parameter store (versions, leases,
 * retention) and the round logic (RoundRunner), wired together. Membership
 * changes count only between rounds; see RoundRunner for a round's life.
 */
export class RoundController {
  private readonly membership: Membership;
  private readonly parameters: ParameterStore;
  private readonly rounds: RoundRunner;
  readonly finished: Promise<void>;

  constructor(private readonly o: ControllerOptions) {
    this.membership = new Membership({
      heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      log: o.log,
      openRound: () => this.rounds.openRound(),
      ...(o.hooks.onMembership ? { onChange: (change) => o.hooks.onMembership?.(change) } : {}),
      onEvicted: () => this.rounds.left(),
    });
    this.parameters = new ParameterStore({
      params: o.params,
      momentum: o.momentum,
      ...(o.resume ? { version: o.resume.version } : {}),
      ...(o.retainVersions !== undefined ? { retainVersions: o.retainVersions } : {}),
    });
    this.rounds = new RoundRunner({ ...o, membership: this.membership, parameters: this.parameters });
    this.finished = this.rounds.finished;
  }

  get state(): ControllerState {
    return this.rounds.state;
  }

  snapshot(): ControllerSnapshot {
    return {
      version: this.parameters.version,
      ...this.rounds.counters(),
      sampler: this.o.sampler.state(),
      params: this.parameters.values,
      momentum: this.parameters.momentum,
    };
  }

  /** A member silent this long is evicted (--heartbeat-timeout). */
  get heartbeatTimeoutMs(): number {
    return this.membership.heartbeatTimeoutMs;
  }

  get currentVersion(): number {
    return this.parameters.version;
  }

  memberCount(): number {
    return this.membership.size;
  }

  /** A new member; RunFullError when the run has its --workers MAX (the worker retries: a spare waits for a place). */
  register(name: string): string {
    this.rounds.assertAlive();
    const max = this.o.maxWorkers;
    // A finished run is never full: a late worker registers and is told the run is over.
    if (max !== undefined && this.state !== 'finished' && this.membership.size >= max) throw new RunFullError(max, name);
    this.rounds.assertNotQuarantined(name);
    const id = this.membership.join(name);
    this.rounds.joined();
    return id;
  }

  heartbeat(worker: string): boolean {
    return this.membership.heartbeat(worker);
  }

  leave(worker: string, reason: string): void {
    if (this.membership.leave(worker, reason)) this.rounds.left();
  }

  /** The member's connection dropped (its Attend stream was cancelled: the process died): evicted at once. */
  connectionDropped(worker: string): void {
    // Workers exit when the run is over: their connections closing then is no fault, only a member gone.
    if (this.state !== 'waiting' && this.state !== 'running') {
      this.membership.leave(worker, 'connection closed after the run');
      return;
    }
    const name = this.membership.nameOf(worker);
    const round = this.rounds.openRound()?.round;
    const evicted = this.membership.evict(worker, {
      summary: 'connection dropped',
      reason: 'connection dropped',
      fields: { name, ...(round !== undefined ? { round } : {}) },
    });
    if (evicted) this.rounds.left();
  }

  /** Resolves with the worker's assignment in the first round numbered `fromRound` or later, or null when the run is over. */
  nextRound(worker: string, fromRound: number): Promise<Assignment | null> {
    return this.rounds.nextRound(worker, fromRound);
  }

  /**
   * A contribution of `sampleCount` samples to sum as its chunks arrive
   * (StagedContribution.accumulate), or, given `values`, all at once; for
   * `contribute` to commit after its checks. Drop it with
   * `discardContribution` when it is refused: the sum never saw it.
   */
  /** The slices the open round exchanges (what a contribution to it holds). */
  exchangeSlices(): readonly WeightSlice[] {
    return this.rounds.exchangeSlices();
  }

  stageContribution(sampleCount: number, values?: Float32Array): StagedContribution {
    return this.rounds.stage(sampleCount, values);
  }

  discardContribution(staged: StagedContribution): void {
    this.rounds.discard(staged);
  }

  /** Checks and commits a staged contribution; the round closes when the last member's arrives. */
  contribute(worker: string, c: Contribution): { round: number; nextVersion: number } {
    return this.rounds.contribute(worker, c);
  }

  /**
   * The parameters of `version` (0 = current) for a reader that streams them
   * out; call `release` when done. A round closing meanwhile writes a copy.
   */
  acquireParameters(version: number): ParameterLease {
    return this.parameters.acquire(version);
  }

  /** Older versions still fetchable, oldest first. */
  retainedVersions(): number[] {
    return this.parameters.retainedVersions();
  }

  /** Keeps the current version fetchable after the master moves on (at checkpoints, for the evaluator). */
  retainCurrentVersion(): void {
    this.parameters.retainCurrent();
  }

  /** Stops: pending waits fail, the run is marked failed (or stopped, after drain) unless it finished. */
  close(reason: string, how: 'failed' | 'stopped' = 'failed'): void {
    this.rounds.close(reason, how);
  }

  /** A graceful stop: no new round; the round in hand closes within `timeoutMs` or is abandoned (see RoundRunner.drain). */
  drain(timeoutMs: number): Promise<DrainOutcome> {
    return this.rounds.drain(timeoutMs);
  }
}
