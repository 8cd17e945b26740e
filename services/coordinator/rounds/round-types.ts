import type { VectorMemory } from '../../../src/compute/vector-math/index.js';
import type { RoundWork } from '../../../src/exchange/round-work.js';
import type { TrainConfig, TrainPlan } from '../../../src/runtime/config/train-config.js';
import type { Logger } from '../../../src/runtime/logger.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import type { StagedContribution } from '../aggregator/weighted-sum.js';
import type { CheckVerdict, ContributionCheck, DirectionVerdict } from '../aggregator/contribution-check.js';
import type { Membership, MembershipChange } from '../membership/membership.js';
import type { UpdateKind } from '../optimizer/round-update.js';
import type { ParameterStore } from '../parameters/parameter-store.js';
import type { RoundPlan } from '../sampler/round-plan.js';

/** What the rounds need of the sampler (services/coordinator/sampler). */
export interface RoundSampler {
  readonly epoch: number;
  planRound(members: readonly string[], shares?: readonly number[]): RoundPlan;
  commit(plan: RoundPlan, contributed: readonly string[]): void;
  /** Drops the outstanding round as if it had never been planned. */
  abort(plan: RoundPlan): void;
  readonly epochDone: boolean;
  nextEpoch(): void;
  state(): unknown;
}

/** 'stopped': a graceful stop (drained, checkpointed): a restarted coordinator resumes the run. */
export type ControllerState = 'waiting' | 'running' | 'finished' | 'failed' | 'stopped';

export interface Assignment extends RoundWork {
  deadlineUnixMs: number;
}

export interface Contribution {
  round: number;
  version: number;
  kind: UpdateKind;
  sampleCount: number;
  lossSum: number;
  correct: number;
  /** The values, summed as they arrived (stageContribution); committed once the checks pass. */
  values: StagedContribution;
  /** The worker's own training time for the round's batches (0 when unknown). */
  trainMs?: number;
  /** The worker's wall time fetching this round's parameters (absent from older workers). */
  downloadMs?: number;
  /** The worker's wall time sending its previous accepted contribution, and that contribution's round. */
  previousUpload?: WorkerUpload;
}

/** A worker's upload of its contribution to `round`, as the worker timed it (until acknowledged). */
export interface WorkerUpload {
  ms: number;
  round: number;
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
  /** As the worker reported them (Contribution). */
  downloadMs?: number;
  previousUpload?: WorkerUpload;
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

export interface EpochTotals {
  epoch: number;
  samples: number;
  lossSum: number;
  correct: number;
}

export interface ControllerHooks {
  /** Epoch end: evaluate, write metrics, checkpoint. The next round waits for it. */
  onEpochEnd(totals: EpochTotals, version: number): Promise<void>;
  /** Every `checkpointEveryRounds` rounds, or `checkpointEveryMs` after the last checkpoint; `reason` says which. */
  onCheckpoint(round: number, reason: string): Promise<void>;
  /** A member joined or left (left, evicted): for events; must not throw. */
  onMembership?(change: MembershipChange): void;
  /** A contribution refused by the contribution check (and whether its member is now quarantined); must not throw. */
  onContributionRefused?(refusal: ContributionRefusal): void;
  /** Refusals of the same batches found to be the batch's fault (second opinion): none counted, the last applied; must not throw. */
  onBatchAtFault?(b: BatchAtFault): void;
  /** An accepted contribution the contribution check scaled down to its clip bound (verdict.clip); must not throw. */
  onContributionClipped?(clipped: ContributionRefusal): void;
  /** The contribution check's direction rule quarantined a member (its contributions were applied: none is refused). */
  onDirectionQuarantine?(q: DirectionQuarantine): void;
  /** After each round that closed, before the epoch-end or checkpoint hooks; must not throw. */
  onRoundClosed?(summary: RoundSummary): void;
}

/** A contribution the contribution check refused, or accepted and clipped (ContributionCheck). */
export interface ContributionRefusal {
  worker: string;
  name: string;
  round: number;
  epoch: number;
  verdict: CheckVerdict;
}

/** A member the direction rule quarantined, with the figures that decided (ContributionCheck.noteDirections). */
export interface DirectionQuarantine extends Omit<DirectionVerdict, 'member'> {
  worker: string;
  name: string;
  round: number;
  epoch: number;
}

/** A second opinion that blamed the batch: `applied` was refused alike on batches `refused` had been refused for. */
export interface BatchAtFault {
  round: number;
  epoch: number;
  /** The second opinion: refused by the norm rule too, accepted after all and applied. */
  applied: { worker: string; name: string; norm: number; medianNorm: number | null };
  /** The refusals that waited for it, not counted. */
  refused: { worker: string; name: string; round: number; norm: number }[];
}

/** Counters restored from a checkpoint. */
export interface ResumeCounters {
  version: number;
  globalStep: number;
  round: number;
  optimizerSteps: number;
  epochTotals: EpochTotals;
}

/** What RoundRunner is built from (RoundController composes it). */
/**
 * The other aggregators of a sharded run (--shards K): each round's close
 * runs on them too, in two phases (services/coordinator/shards/shard-peers.ts).
 */
export interface ShardRounds {
  /** null when every aggregator holds exactly these contributions of `round`, else what differs. */
  prepare(round: number, version: number, contributors: readonly { workerId: string; sampleCount: number }[]): Promise<string | null>;
  commit(round: number, version: number, lr: number): Promise<void>;
  abort(round: number, version: number): Promise<void>;
}

export interface RoundRunnerOptions {
  /** --shards K > 1: the aggregators of the other slices; this coordinator's round sums and updates its own. */
  shards?: ShardRounds;
  config: TrainConfig;
  plan: TrainPlan;
  layout: readonly WeightSlice[];
  /** The slices a round of an epoch exchanges (--freeze-epochs: the trainable subset); the whole layout when absent. */
  exchangeOf?: (epoch: number) => readonly WeightSlice[];
  sampler: RoundSampler;
  /** The contribution check (gradients only); absent: every finite contribution counts. */
  contributionCheck?: ContributionCheck;
  membership: Membership;
  parameters: ParameterStore;
  /** Where the round's sums live (beside params, momentum and the receive scratch): the SIMD kernels then run in place. */
  vectors?: VectorMemory;
  /** Workers the first round waits for (--workers N, or MIN of MIN:MAX). */
  expectedWorkers: number;
  /** Below this many members no round starts: the run waits for joiners (MIN of --workers MIN:MAX); default 1. */
  minWorkers?: number;
  /** Registrations beyond this many members are refused (RunFullError); default: no limit. */
  maxWorkers?: number;
  roundTimeoutMs: number;
  checkpointEveryRounds: number;
  /** Also checkpoint once this long has passed since the last; 0 or absent: by rounds only. */
  checkpointEveryMs?: number;
  log: Logger;
  hooks: ControllerHooks;
  resume?: Omit<ResumeCounters, 'version'>;
}
