import type { SketchedContribution } from '../aggregator/contribution-check.js';
import type { UpdateKind } from '../optimizer/round-update.js';
import type { RoundPlan } from '../sampler/round-plan.js';
import { AlreadyContributedError, NotAMemberError, StaleContributionError } from './errors.js';
import type { Arrival, Assignment, Contribution, EpochTotals, RoundSummary } from './round-types.js';

/** The round in progress: its plan and what has arrived for it. */
export interface OpenRound {
  plan: RoundPlan;
  /** The master version every member starts from. */
  version: number;
  globalStep: number;
  /** One learning rate per local step. */
  lrs: number[];
  /** Members when the round started, sorted (the plan's member order). */
  members: string[];
  contributed: Set<string>;
  /** Members whose contribution the contribution check refused: not waited for, their batches back to the pool. */
  refused: Set<string>;
  kind: UpdateKind;
  deadlineUnixMs: number;
  startedMs: number;
  arrivals: Arrival[];
  /** The contribution check's sketches of the full contributions the round's sum holds (their direction, judged at the close). */
  sketches: SketchedContribution[];
  timer: NodeJS.Timeout;
}

/** `worker`'s assignment in `open`, or null when it is not one of the round's members. */
export function assignmentOf(open: OpenRound, worker: string): Assignment | null {
  const memberIndex = open.members.indexOf(worker);
  if (memberIndex < 0) return null;
  const assignment = open.plan.assignments[memberIndex]!;
  return {
    round: open.plan.round,
    epoch: open.plan.epoch,
    version: open.version,
    globalStep: open.globalStep,
    memberIndex,
    batches: assignment.batches.map((indices, k) => ({ indices, lr: open.lrs[k]! })),
    deadlineUnixMs: open.deadlineUnixMs,
  };
}

/**
 * Throws unless `c` is the contribution `open` still waits for from
 * `worker`: the open round, its version and kind, a member with work that has
 * not contributed yet, the sample count assigned, staged with that weight.
 */
export function checkContribution(open: OpenRound | null, worker: string, c: Contribution): asserts open is OpenRound {
  if (!open || c.round !== open.plan.round)
    throw new StaleContributionError(worker, c.round, open?.plan.round ?? null, 'not the open round');
  const round = open.plan.round;
  if (c.version !== open.version)
    throw new StaleContributionError(worker, c.round, round, `started from version ${c.version}, the round's is ${open.version}`);
  if (!open.plan.waitFor.includes(worker)) throw new NotAMemberError(worker, c.round, 'not a member of this round');
  if (open.contributed.has(worker)) throw new AlreadyContributedError(worker, c.round);
  if (c.kind !== open.kind) throw new StaleContributionError(worker, c.round, round, `expected ${open.kind}, got ${c.kind}`);
  const expectedSamples = open.plan.assignments.find((a) => a.worker === worker)!.samples;
  if (c.sampleCount !== expectedSamples)
    throw new NotAMemberError(worker, c.round, `sample count ${c.sampleCount}, assigned ${expectedSamples}`);
  if (c.values.weight !== c.sampleCount)
    throw new NotAMemberError(worker, c.round, `staged with weight ${c.values.weight}, sample count ${c.sampleCount}`);
}

/** Notes an accepted contribution: who, how much, and when since the round started. */
export function recordArrival(open: OpenRound, worker: string, c: Contribution, trainMs: number): void {
  open.contributed.add(worker);
  open.arrivals.push({
    worker,
    samples: c.sampleCount,
    lossSum: c.lossSum,
    correct: c.correct,
    trainMs,
    arrivedMs: Date.now() - open.startedMs,
    ...(c.downloadMs !== undefined ? { downloadMs: c.downloadMs } : {}),
    ...(c.previousUpload !== undefined ? { previousUpload: c.previousUpload } : {}),
  });
}

/** What a closed round reports (events, metrics). */
export function summaryOf(
  open: OpenRound,
  after: { version: number; globalStep: number; evicted: string[]; epochSamplesDone: number },
): RoundSummary {
  return {
    round: open.plan.round,
    epoch: open.plan.epoch,
    members: open.members.length,
    samples: open.arrivals.reduce((n, a) => n + a.samples, 0),
    lr: open.lrs[0] ?? 0,
    roundMs: Date.now() - open.startedMs,
    arrivals: open.arrivals,
    ...after,
  };
}

/** The plan's shape, for the 'round started' log line. */
export function planFields(open: OpenRound): Record<string, unknown> {
  const { plan } = open;
  return {
    round: plan.round,
    epoch: plan.epoch,
    members: open.members.length,
    samples: plan.samples,
    fromPool: plan.fromPool,
    shards: plan.assignments.map((a) => a.samples),
  };
}

/**
 * The 'round closed' log line's progress fields, for a launcher's terminal
 * view (services/launcher) and anyone reading the logs: the round's mean
 * loss and learning rate, and the epoch's images applied so far out of its
 * total, with their running loss and accuracy.
 */
export function closedFields(
  open: OpenRound,
  after: { globalStep: number; epoch: EpochTotals; epochImages: number; epochDone: boolean },
): Record<string, unknown> {
  const samples = open.arrivals.reduce((n, a) => n + a.samples, 0);
  const lossSum = open.arrivals.reduce((n, a) => n + a.lossSum, 0);
  const { epoch } = after;
  return {
    samples,
    loss: samples > 0 ? lossSum / samples : null,
    lr: open.lrs[0] ?? 0,
    roundMs: Date.now() - open.startedMs,
    globalStep: after.globalStep,
    epochImagesDone: epoch.samples,
    epochImages: after.epochImages,
    epochLoss: epoch.samples > 0 ? epoch.lossSum / epoch.samples : null,
    epochAccuracy: epoch.samples > 0 ? epoch.correct / epoch.samples : null,
    epochDone: after.epochDone,
  };
}
