import { WeightedSum, type StagedContribution } from '../aggregator/weighted-sum.js';
import { leaveOneOutCosines, type CheckVerdict } from '../aggregator/contribution-check.js';
import { WorkerSpeeds } from '../balance/worker-speeds.js';
import { RoundUpdate } from '../optimizer/round-update.js';
import { EpochProgress } from './epoch-progress.js';
import { CoordinatorClosedError, NotAMemberError, QuarantinedWorkerError, StaleContributionError, UnknownWorkerError } from './errors.js';
import { assignmentOf, checkContribution, closedFields, planFields, recordArrival, summaryOf, type OpenRound } from './open-round.js';
import { RoundWaiters } from './round-waiters.js';
import { SecondOpinions, type PendingRefusal } from './second-opinions.js';
import type { Assignment, Contribution, ControllerState, EpochTotals, RoundRunnerOptions } from './round-types.js';
import { layoutLength, type WeightSlice } from '../../../src/training/flat-weights.js';

type CloseReason = 'complete' | 'deadline' | 'no work';

/** How often a run waiting for members says so. */
const WAIT_LOG_MS = 30_000;

/**
 * How a drain (a graceful stop) left the rounds: no round was in hand
 * ('idle'), the round in hand closed ('closed') or was abandoned at the
 * timeout ('abandoned'), or it was the run's last ('finished').
 */
export type DrainOutcome = 'idle' | 'closed' | 'abandoned' | 'finished';

/**
 * The synchronous rounds. A round is planned by the sampler over the members
 * at its start (a joiner waits for the next one), waits for every member that
 * has work, and closes when the last contributes, at the deadline (the
 * missing ones evicted, their batches back to the sampler's pool) or at once
 * when there is no work. The sample-weighted average then becomes the next
 * master version (RoundUpdate); epoch ends and checkpoints follow
 * (EpochProgress) before the next round starts. With --balance speed each
 * round's shards follow the members' measured speeds.
 */
export class RoundRunner {
  private lifecycle: ControllerState = 'waiting';
  private open: OpenRound | null = null;
  /** From a round's close until the next starts (the epoch-end hooks may take a while). */
  private closing = false;
  private lastRound: number;
  private globalStep: number;
  private readonly fullSum: WeightedSum;
  /** Sums of a frozen phase's subset (--freeze-epochs), by length: small, outside the vector memory. */
  private readonly subsetSums = new Map<number, WeightedSum>();
  private readonly update: RoundUpdate;
  private readonly progress: EpochProgress;
  private readonly waiters = new RoundWaiters();
  /** Measured by every contribution; used to cut rounds only with --balance speed. */
  private readonly speeds = new WorkerSpeeds();
  /** Whether the last round applied anything (the contribution check keeps a conflict's earlier one when not). */
  private lastRoundApplied = true;
  /** The members the norm rule refused in the open round (ContributionCheck.runMoved). */
  private normRefusals: { round: number; members: string[] } = { round: -1, members: [] };
  /** Names quarantined by the contribution check: refused at registration for the rest of the run. */
  private readonly quarantined = new Set<string>();
  /** Refusals not counted until other members have trained the refused batches; their members sit out meanwhile. */
  private readonly opinions = new SecondOpinions();
  /** Set by drain(): no round starts from then on. */
  private draining = false;
  /** The drain waiting for the round in hand. */
  private drainWaiter: { settle: (outcome: DrainOutcome) => void; fail: (err: Error) => void } | null = null;
  private finishedResolve!: () => void;
  private finishedReject!: (e: Error) => void;
  /** Resolves when the last epoch ended, rejects when the run failed or was closed first. */
  readonly finished: Promise<void>;

  constructor(private readonly o: RoundRunnerOptions) {
    this.fullSum = new WeightedSum(o.parameters.values.length, o.vectors);
    if (o.contributionCheck) this.fullSum.trackFigures(o.layout.filter((w) => w.trainable));
    this.update = new RoundUpdate(o.config, o.plan, o.layout, o.resume?.optimizerSteps ?? 0);
    this.progress = new EpochProgress(
      {
        sampler: o.sampler,
        hooks: o.hooks,
        epochs: o.config.epochs,
        checkpointEveryRounds: o.checkpointEveryRounds,
        ...(o.checkpointEveryMs !== undefined ? { checkpointEveryMs: o.checkpointEveryMs } : {}),
      },
      o.resume?.epochTotals,
    );
    this.lastRound = o.resume?.round ?? 0;
    this.globalStep = o.resume?.globalStep ?? 0;
    this.finished = new Promise((resolve, reject) => {
      this.finishedResolve = resolve;
      this.finishedReject = reject;
    });
    this.finished.catch(() => {});
  }

  get state(): ControllerState {
    return this.lifecycle;
  }

  /** Counters for a checkpoint (taken between rounds). */
  counters(): { globalStep: number; round: number; optimizerSteps: number; epochTotals: EpochTotals } {
    return {
      globalStep: this.globalStep,
      round: this.lastRound,
      optimizerSteps: this.update.optimizerSteps,
      epochTotals: this.progress.current,
    };
  }

  /** The open round as membership's silence check sees it. */
  openRound(): { round: number; contributed: ReadonlySet<string> } | null {
    return this.open && { round: this.open.plan.round, contributed: this.open.contributed };
  }

  assertAlive(): void {
    if (this.lifecycle === 'failed' || this.lifecycle === 'stopped') throw new CoordinatorClosedError('coordinator is closed');
  }

  /** While fewer than the members needed (at the start, or below --workers MIN): the timer that says so every ~30 s. */
  private belowMin: NodeJS.Timeout | null = null;

  /** A member joined: the run starts once the expected workers are there; an idle run resumes. */
  joined(): void {
    if (this.draining) return;
    if (this.lifecycle === 'waiting' && this.o.membership.size >= this.o.expectedWorkers) {
      this.lifecycle = 'running';
      this.startRound();
    } else if (this.lifecycle === 'waiting') {
      this.waitForMembers(this.o.expectedWorkers, 'the run starts');
    } else if (this.lifecycle === 'running' && !this.open && !this.closing) {
      this.startRound();
    }
  }

  /** A member left or was evicted: the open round may now have all it waits for. */
  left(): void {
    const open = this.open;
    if (!open || this.closing) return;
    const pending = open.plan.waitFor.filter((w) => !open.contributed.has(w) && !open.refused.has(w) && this.o.membership.has(w));
    if (pending.length === 0) this.closeRound('complete');
  }

  /** Resolves with the worker's assignment in the first round numbered `fromRound` or later, or null when the run is over. */
  nextRound(worker: string, fromRound: number): Promise<Assignment | null> {
    if (this.lifecycle === 'finished') return Promise.resolve(null);
    this.assertAlive();
    if (!this.o.membership.heartbeat(worker)) return Promise.reject(new UnknownWorkerError(worker));
    const ready = this.assignmentFor(worker, fromRound);
    return ready ? Promise.resolve(ready) : this.waiters.wait(worker, fromRound);
  }

  /** The slices a round of `epoch` exchanges. */
  private slicesOf(epoch: number | undefined): readonly WeightSlice[] {
    return epoch !== undefined && this.o.exchangeOf ? this.o.exchangeOf(epoch) : this.o.layout;
  }

  /** The slices the open round exchanges (the whole layout between rounds). */
  exchangeSlices(): readonly WeightSlice[] {
    return this.slicesOf(this.open?.plan.epoch);
  }

  /** The sum of the open round: the model-sized one, or a frozen phase's subset's. */
  private get sum(): WeightedSum {
    const length = layoutLength(this.exchangeSlices());
    if (length === this.fullSum.length) return this.fullSum;
    let sum = this.subsetSums.get(length);
    if (!sum) {
      sum = new WeightedSum(length);
      if (this.o.contributionCheck) sum.trackFigures(this.exchangeSlices().filter((w) => w.trainable));
      this.subsetSums.set(length, sum);
    }
    return sum;
  }

  /** A contribution of `sampleCount` samples to sum as it arrives; with `values`, all of it at once. */
  stage(sampleCount: number, values?: Float32Array): StagedContribution {
    this.assertAlive();
    return values ? this.sum.stageWhole(values, sampleCount) : this.sum.stage(sampleCount);
  }

  discard(staged: StagedContribution): void {
    this.sum.discard(staged);
  }

  /** Checks and commits a staged contribution; the round closes when the last member's arrives. */
  contribute(worker: string, c: Contribution): { round: number; nextVersion: number } {
    this.assertAlive();
    if (!this.o.membership.has(worker)) throw new UnknownWorkerError(worker);
    const open = this.open;
    checkContribution(open, worker, c);
    // Sharded: the aggregators were asked which contributions count when the round began to close; a later one counts nowhere.
    if (this.closing && this.o.shards) throw new StaleContributionError(worker, c.round, open.plan.round, 'the round is closing');
    const refusal = this.checkFigures(open, worker, c);
    if (refusal) throw refusal;
    this.sum.commit(c.values);
    const trainMs = c.trainMs ?? 0;
    recordArrival(open, worker, c, trainMs);
    this.speeds.record(worker, c.sampleCount, trainMs);
    this.o.membership.heartbeat(worker);
    const nextVersion = this.o.parameters.version + 1;
    this.left();
    return { round: open.plan.round, nextVersion };
  }

  /** Throws when `name` was quarantined in this run. */
  assertNotQuarantined(name: string): void {
    if (this.quarantined.has(name)) throw new QuarantinedWorkerError(name);
  }

  /**
   * The contribution check (gradients only): null when `c` counts, else the
   * error its sender is answered with. A refused member is not waited for
   * and its batches go back to the pool at the close, as a member evicted
   * at the deadline's do; a repeat offender is quarantined (evicted, its
   * name refused from then on).
   */
  private checkFigures(open: OpenRound, worker: string, c: Contribution): Error | null {
    const check = this.o.contributionCheck;
    const sums = c.values.figures;
    if (!check || !sums || c.kind !== 'gradients') return null;
    const round = open.plan.round;
    // A shard well below the batch (an epoch's leftover, the pool's remains) is judged by the norm-above rule only.
    // With fewer than three members to contribute, a disagreement cannot say which side is wrong: the direction rules
    // (cosine, conflict, probation) need a majority, so only the norm rule judges such a round.
    const leftover = c.sampleCount * 2 <= this.o.config.batchSize;
    const partial = leftover || open.plan.waitFor.length < 3;
    const othersPending = open.plan.waitFor.filter(
      (w) => w !== worker && !open.contributed.has(w) && !open.refused.has(w) && this.o.membership.has(w),
    );
    // The round's sum holds exactly one contribution: a conflict with it may be its fault (see ContributionCheck.judge).
    const alone = this.sum.contributions === 1 && open.arrivals.length === 1 ? open.arrivals[0]!.worker : undefined;
    let verdict = check.judge(worker, round, sums.figures(), {
      partial,
      leftover,
      othersPending,
      ...(alone ? { alone } : {}),
      keepEarlier: !this.lastRoundApplied,
      defer: true,
    });
    if (verdict.dropEarlier) {
      // Out of the sum (this one's staged copy too) and out of the round: its batches go back to the pool.
      const earlier = verdict.dropEarlier.member;
      this.sum.dropEarlier(c.values);
      open.contributed.delete(earlier);
      open.arrivals = open.arrivals.filter((a) => a.worker !== earlier);
      open.sketches = open.sketches.filter((a) => a.member !== earlier);
      open.refused.add(earlier);
      const refusal = verdict.dropEarlier.refusal;
      if (refusal) this.refused(open, earlier, refusal, true);
      else
        this.o.log.info(
          { worker: earlier, name: this.o.membership.nameOf(earlier) ?? earlier, round, droppedAfterAcceptance: true },
          'accepted contribution dropped: it and a later one point against each other; its batches go back to the pool',
        );
    }
    if (verdict.accepted) {
      this.o.log.debug({ worker, round, samples: c.sampleCount, ...verdict.figures }, 'contribution figures');
      if (verdict.clip !== undefined) this.clipped(open, worker, c, verdict);
      if (!partial) open.sketches.push({ member: worker, weight: c.sampleCount, scale: verdict.clip ?? 1, sketch: sums.sketch });
      return null;
    }
    if (verdict.secondOpinion === 'pending') {
      const indices = assignmentIndices(open, worker);
      // This contribution is the second opinion on another member's refused batches, refused alike: the batch is at fault.
      // A member refused recently gives no such opinion (a garbage worker on an honest outlier batch would clear both).
      const atFault = check.onProbation(worker)
        ? []
        : this.opinions.heldBy(worker, open.plan.epoch, indices).filter((p) => check.sameBatch(p.verdict, verdict));
      if (atFault.length > 0) {
        this.batchAtFault(open, worker, verdict, atFault);
        // Applied after all, but no more than any accepted contribution: clipped to the bound.
        const clip = check.clipScale(verdict.figures.norm, verdict.figures.medianNorm);
        if (clip !== undefined) this.clipped(open, worker, c, { ...verdict, clip });
        if (!partial) open.sketches.push({ member: worker, weight: c.sampleCount, scale: clip ?? 1, sketch: sums.sketch });
        return null;
      }
      if (this.o.membership.ids().some((m) => m !== worker)) {
        this.opinions.add({
          worker,
          name: this.o.membership.nameOf(worker) ?? worker,
          round,
          epoch: open.plan.epoch,
          verdict,
          remaining: new Set(indices),
        });
      } else verdict = check.settle(worker, verdict, 'alone');
    }
    this.refused(open, worker, verdict);
    this.left();
    return new NotAMemberError(
      worker,
      round,
      `contribution refused by the contribution check (${verdict.rule}: norm ${verdict.figures.norm.toPrecision(3)}, median ${verdict.figures.medianNorm?.toPrecision(3) ?? 'none'}, cosine ${verdict.figures.cosine?.toFixed(3) ?? 'none'})${verdict.quarantine ? '; quarantined' : ''}`,
    );
  }

  /** An accepted contribution above the clip bound: scaled down to it before it joins the sum; logged and told. */
  private clipped(open: OpenRound, worker: string, c: Contribution, verdict: CheckVerdict): void {
    this.sum.scaleStaged(c.values, verdict.clip!);
    const name = this.o.membership.nameOf(worker) ?? worker;
    const { round, epoch } = open.plan;
    const f = verdict.figures;
    this.o.log.warn(
      {
        worker,
        name,
        round,
        epoch,
        norm: f.norm,
        medianNorm: f.medianNorm,
        cosine: f.cosine,
        clipFactor: f.clipFactor,
        scale: verdict.clip,
      },
      'contribution clipped by the contribution check: its norm is above the clip bound, scaled down to it',
    );
    this.o.hooks.onContributionClipped?.({ worker, name, round, epoch, verdict });
  }

  /**
   * A refusal in the open round: not waited for, its batches back to the pool at the close; one waiting for its
   * second opinion is only logged (reported once it counts), the others are reported now.
   */
  private refused(open: OpenRound, worker: string, verdict: CheckVerdict, droppedAfterAcceptance = false): void {
    const round = open.plan.round;
    open.refused.add(worker);
    if (verdict.rule === 'norm-above' && !verdict.quarantine) {
      if (this.normRefusals.round !== round) this.normRefusals = { round, members: [] };
      this.normRefusals.members.push(worker);
    }
    const name = this.o.membership.nameOf(worker) ?? worker;
    const refusal = { worker, name, round, epoch: open.plan.epoch };
    if (verdict.secondOpinion === 'pending')
      this.o.log.info(
        refusalFields(refusal, verdict),
        'contribution refused by the contribution check, not counted until other members have trained its batches: it sits out until then',
      );
    else this.report(refusal, verdict, droppedAfterAcceptance);
  }

  /** A counted (or uncounted) refusal: logged, told (event), and when it is the member's limit, its quarantine. */
  private report(refusal: Omit<PendingRefusal, 'verdict' | 'remaining'>, verdict: CheckVerdict, droppedAfterAcceptance = false): void {
    const { worker, name, round, epoch } = refusal;
    const fields = {
      ...refusalFields(refusal, verdict),
      // Accepted when it arrived (its worker was answered so), taken out of the sum when a later one showed it wrong.
      ...(droppedAfterAcceptance ? { droppedAfterAcceptance } : {}),
    };
    if (verdict.rule === 'probation')
      this.o.log.info(fields, 'contribution held back: on probation and first in its round; its batches go back to the pool');
    else if (verdict.rule === 'conflict')
      this.o.log.info(
        fields,
        "contribution dropped: it and the round's one earlier contribution point against each other, neither refused recently",
      );
    else this.o.log.warn(fields, 'contribution refused by the contribution check: its batches go back to the pool');
    this.o.hooks.onContributionRefused?.({ worker, name, round, epoch, verdict });
    if (verdict.quarantine)
      this.quarantine(worker, name, {
        summary: `quarantined (${verdict.recentRefusals} contributions refused by the contribution check, the last by its ${verdict.rule} rule)`,
        reason: `quarantined: ${verdict.recentRefusals} contributions refused (${verdict.rule})`,
        fields,
      });
  }

  /** Evicts `worker` and refuses its name for the rest of the run; the check forgets it. */
  private quarantine(worker: string, name: string, why: { summary: string; reason: string; fields: Record<string, unknown> }): void {
    this.quarantined.add(name);
    this.o.contributionCheck?.forget(worker);
    this.o.membership.evict(worker, why);
  }

  /**
   * `worker`'s contribution, refused alike on batches other members' refusals
   * (`atFault`) wait on: the batch is at fault, not the workers. Neither
   * refusal counts, and this contribution is accepted after all: applied, so
   * those samples are applied once like every other (the ledger stays exact).
   * Its norm stays out of the window.
   */
  private batchAtFault(open: OpenRound, worker: string, verdict: CheckVerdict, atFault: readonly PendingRefusal[]): void {
    const check = this.o.contributionCheck!;
    const name = this.o.membership.nameOf(worker) ?? worker;
    const settled = check.settle(worker, verdict, 'batch');
    for (const p of atFault) {
      this.opinions.take(p.worker);
      const first = check.settle(p.worker, p.verdict, 'batch');
      this.o.log.info(
        { ...refusalFields(p, first), secondOpinionFrom: worker, secondOpinionRound: open.plan.round },
        "contribution refusal not counted: another member's contribution on the same batches was refused alike (the batch is at fault)",
      );
    }
    this.o.log.info(
      {
        ...refusalFields({ worker, name, round: open.plan.round, epoch: open.plan.epoch }, settled),
        firstRefused: atFault.map((p) => p.worker),
      },
      'contribution accepted though refused by the contribution check: a second opinion on batches refused alike before (the batch is at fault); applied, not counted',
    );
    this.o.hooks.onBatchAtFault?.({
      round: open.plan.round,
      epoch: open.plan.epoch,
      applied: { worker, name, norm: verdict.figures.norm, medianNorm: verdict.figures.medianNorm },
      refused: atFault.map((p) => ({ worker: p.worker, name: p.name, round: p.round, norm: p.verdict.figures.norm })),
    });
  }

  /**
   * The direction rule, at the close of a round with three or more full
   * contributions applied: each one's cosine with the sum of the others
   * (from their sketches); a member the rule finds pointing against the
   * others round after round is quarantined. Its contributions were applied
   * (no single round could tell them from an honest one's); from now on
   * none is.
   */
  private judgeDirections(open: OpenRound): void {
    const check = this.o.contributionCheck;
    if (!check || open.sketches.length < 3) return;
    const { round, epoch } = open.plan;
    const cosines = leaveOneOutCosines(open.sketches);
    const nameOf = (m: string) => this.o.membership.nameOf(m) ?? m;
    this.o.log.debug(
      { round, epoch, directions: Object.fromEntries(cosines.map((d) => [nameOf(d.member), d.cosine])) },
      'contribution directions',
    );
    for (const { member, ...figures } of check.noteDirections(cosines)) {
      const name = nameOf(member);
      const fields = { worker: member, name, round, epoch, rule: 'direction', ...figures };
      this.quarantine(member, name, {
        summary: `quarantined (its gradient pointed against the others': the lowest leave-one-out cosine, negative, in ${figures.lowest} of its last ${figures.rounds} full rounds, mean ${figures.meanCosine.toFixed(3)})`,
        reason: `quarantined: its gradients point against the other members' (direction, ${figures.lowest} of ${figures.rounds} rounds)`,
        fields,
      });
      this.o.hooks.onDirectionQuarantine?.({ worker: member, name, round, epoch, ...figures });
    }
  }

  /** The pending refusals whose batches the round's accepted contributions applied to the last index: they count now. */
  private confirmSecondOpinions(open: OpenRound): void {
    const check = this.o.contributionCheck;
    if (!check || this.opinions.size === 0) return;
    const applied = [...open.contributed].flatMap((w) => assignmentIndices(open, w));
    for (const p of this.opinions.applied(open.plan.epoch, applied)) this.report(p, check.settle(p.worker, p.verdict, 'confirmed'));
  }

  /**
   * The members a round is planned for: those waiting for a second opinion sit
   * out (their refused batches go to the others). When nobody else is left to
   * plan, nobody can give one: their refusals count now (the rule without a
   * second opinion), which may quarantine them.
   */
  private planned(): string[] {
    const members = this.o.membership.ids();
    const playing = members.filter((m) => !this.opinions.sitsOut(m));
    if (playing.length > 0 || members.length === 0) return playing;
    const check = this.o.contributionCheck!;
    for (const m of members) {
      const p = this.opinions.take(m);
      if (p) this.report(p, check.settle(m, p.verdict, 'alone'));
    }
    return this.o.membership.ids();
  }

  /**
   * Stops: pending waits fail (UNAVAILABLE to workers, which retry), the run
   * is marked failed, or with `how` 'stopped' stopped (a graceful stop, after
   * drain() and a checkpoint: a restart resumes it); a finished or already
   * closed run stays as it is.
   */
  close(reason: string, how: 'failed' | 'stopped' = 'failed'): void {
    this.o.membership.stop();
    this.stopWaitingForMembers();
    if (this.open) clearTimeout(this.open.timer);
    if (this.lifecycle === 'finished' || this.lifecycle === 'failed' || this.lifecycle === 'stopped') return;
    this.lifecycle = how;
    const err = new CoordinatorClosedError(
      how === 'stopped' ? `coordinator stopped (${reason}): a restarted coordinator resumes the run` : `coordinator closed: ${reason}`,
    );
    this.waiters.rejectAll(err);
    this.drainWaiter?.fail(err);
    this.finishedReject(err);
  }

  /**
   * A graceful stop's first half: no round starts from now on, and the round
   * in hand gets `timeoutMs` to close as usual (every contribution in, or its
   * deadline and evictions); then it is abandoned: its contributions are
   * dropped and its batches were never committed, so the sampler's state
   * (and a checkpoint taken now) is that before it and a resume trains them
   * again. A round already closing (its update applied, its epoch-end or
   * checkpoint hooks running) is waited for: stopping inside those hooks
   * would leave the epoch half recorded. The caller then checkpoints and
   * close(reason, 'stopped').
   */
  drain(timeoutMs: number): Promise<DrainOutcome> {
    this.draining = true;
    if (this.lifecycle === 'finished') return Promise.resolve('finished');
    if (this.lifecycle === 'failed' || this.lifecycle === 'stopped')
      return Promise.reject(new CoordinatorClosedError('coordinator is closed'));
    if (!this.open && !this.closing) return Promise.resolve('idle');
    return new Promise<DrainOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.open && !this.closing) {
          this.abandonRound(this.open);
          done();
          resolve('abandoned');
        } else {
          this.o.log.warn('drain timeout: the round in hand is closing (its epoch-end or checkpoint hooks are running): waiting for them');
        }
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.drainWaiter = null;
      };
      this.drainWaiter = {
        settle: (outcome) => {
          done();
          resolve(outcome);
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
    });
  }

  /** Drops the open round as if it had never been planned (drain's timeout). */
  private abandonRound(open: OpenRound): void {
    clearTimeout(open.timer);
    const sum = this.sum;
    this.o.sampler.abort(open.plan);
    // A contribution still arriving is dropped with the staged sum; its commit is refused (no open round).
    sum.reset();
    this.open = null;
    // The aggregators drop theirs too (a late slice of this round is refused there).
    this.o.shards
      ?.abort(open.plan.round, open.version)
      .catch((err: unknown) => this.o.log.warn({ err: (err as Error).message, round: open.plan.round }, 'aggregators: abort failed'));
    this.o.log.warn(
      { round: open.plan.round, epoch: open.plan.epoch, contributed: open.contributed.size, members: open.plan.waitFor.length },
      'round abandoned at the drain timeout: its batches are trained again after a resume',
    );
  }

  private assignmentFor(worker: string, fromRound: number): Assignment | null {
    const open = this.open;
    return open && open.plan.round >= fromRound ? assignmentOf(open, worker) : null;
  }

  private wakeWaiters(): void {
    this.waiters.wake((worker, fromRound) => {
      if (this.lifecycle === 'finished') return null;
      if (!this.o.membership.has(worker)) return new UnknownWorkerError(worker);
      return this.assignmentFor(worker, fromRound) ?? undefined;
    });
  }

  private startRound(): void {
    const { membership, config } = this.o;
    const members = this.planned();
    if (members.length === 0) return; // waits for the next registration
    // --workers MIN:MAX: below MIN no round starts; a registration (joined()) starts the next once MIN are back.
    if (membership.size < (this.o.minWorkers ?? 1)) {
      this.waitForMembers(this.o.minWorkers ?? 1, 'no round starts');
      return;
    }
    this.stopWaitingForMembers();
    membership.excuseSilence();
    const now = Date.now();
    this.speeds.keepOnly(membership.ids());
    const plan = this.o.sampler.planRound(members, config.balance === 'speed' ? this.speeds.shares(members) : undefined);
    const steps = Math.max(1, ...plan.assignments.map((a) => a.batches.length));
    const timer = setTimeout(() => this.closeRound('deadline'), this.o.roundTimeoutMs);
    timer.unref();
    this.open = {
      plan,
      version: this.o.parameters.version,
      globalStep: this.globalStep,
      lrs: this.update.learningRates(this.globalStep, steps),
      members,
      contributed: new Set(),
      refused: new Set(),
      kind: this.update.kind,
      deadlineUnixMs: now + this.o.roundTimeoutMs,
      startedMs: now,
      arrivals: [],
      sketches: [],
      timer,
    };
    this.o.log.debug(planFields(this.open), 'round started');
    this.wakeWaiters();
    if (plan.waitFor.length === 0) this.closeRound('no work');
  }

  /**
   * Says now and every WAIT_LOG_MS how many of the `need` members (--workers N, or MIN) are present, until a round
   * starts or the run closes: at the start, and with MIN:MAX whenever fewer than MIN are left.
   */
  private waitForMembers(need: number, until: string): void {
    // A run that has started and lost members is worth a warning; one still gathering its first members is not.
    const say = () =>
      this.o.log[this.lifecycle === 'waiting' ? 'info' : 'warn'](
        { members: this.o.membership.size, need, round: this.lastRound + 1 },
        `waiting for workers: ${this.o.membership.size} of ${need} (--workers) present; ${until} when ${need} are`,
      );
    if (this.belowMin) return;
    say();
    this.belowMin = setInterval(say, WAIT_LOG_MS);
    this.belowMin.unref();
  }

  private stopWaitingForMembers(): void {
    if (this.belowMin) clearInterval(this.belowMin);
    this.belowMin = null;
  }

  private closeRound(why: CloseReason): void {
    if (this.closing || !this.open) return;
    const open = this.open;
    clearTimeout(open.timer);
    this.closing = true;
    this.finishRound(open, why).catch((err: unknown) => {
      this.closing = false;
      this.o.log.error({ err, round: open.plan.round }, 'round failed');
      this.close(`round ${open.plan.round} failed: ${(err as Error).message}`);
    });
  }

  private async finishRound(open: OpenRound, why: CloseReason): Promise<void> {
    const round = open.plan.round;
    // Sharded: every aggregator must hold exactly the contributions this one counts, or the round is run again.
    const shards = this.o.shards;
    const counted = this.sum.contributions > 0;
    if (shards && counted) {
      const contributors = open.arrivals.map((a) => ({ workerId: a.worker, sampleCount: a.samples }));
      const mismatch = await shards.prepare(round, open.version, contributors);
      if (mismatch !== null) {
        await shards.abort(round, open.version);
        this.o.sampler.abort(open.plan);
        this.sum.reset();
        this.open = null;
        this.closing = false;
        this.o.log.warn({ round, mismatch }, 'round dropped: the aggregators disagree on its contributions; its batches are planned again');
        if (this.draining) this.drainWaiter?.settle('abandoned');
        else this.startRound();
        return;
      }
    } else if (shards) {
      // Nothing counts here: whatever an aggregator holds of the round goes.
      await shards.abort(round, open.version);
    }
    // The epoch's totals take a round's contributions when it closes, so an abandoned round (drain) leaves none.
    for (const a of open.arrivals) this.progress.add(a.samples, a.lossSum, a.correct);
    const contributed = [...open.contributed];
    const evicted = open.plan.waitFor.filter(
      (worker) =>
        !open.contributed.has(worker) &&
        !open.refused.has(worker) &&
        this.o.membership.evict(worker, {
          summary: 'no contribution by the deadline',
          reason: `no contribution to round ${round} by the deadline`,
          fields: { round, why },
        }),
    );
    this.o.sampler.commit(open.plan, contributed);
    this.confirmSecondOpinions(open);
    this.judgeDirections(open);
    if (counted) {
      await shards?.commit(round, open.version, open.lrs[0]!);
      this.update.apply(this.o.parameters, this.sum.average(), open.lrs[0]!, this.slicesOf(open.plan.epoch));
      this.globalStep += open.lrs.length;
    }
    this.sum.reset();
    this.open = null;
    this.lastRound = round;
    this.lastRoundApplied = counted;
    const moved = this.normRefusals.round === round ? this.normRefusals.members : [];
    if (!counted && contributed.length === 0 && moved.length >= 2 && this.o.contributionCheck) {
      // Refusals of this round waiting for a second opinion were never recorded: dropped, their members play again.
      const deferred = moved.filter((m) => this.opinions.take(m) !== undefined);
      this.o.contributionCheck.runMoved(moved.filter((m) => !deferred.includes(m)));
      this.o.log.warn(
        { round, refused: moved.length },
        "every contribution of the round was far above the recent median norm: the run moved (a diverging loss?), not a worker; the contribution check's window starts again and these refusals are not counted",
      );
    }
    const version = this.o.parameters.version;
    this.o.log.info(
      {
        round,
        epoch: open.plan.epoch,
        version,
        contributed: contributed.length,
        evicted: open.plan.waitFor.length - contributed.length - open.refused.size,
        // The contribution check's refusals (their batches back to the pool, as an evicted member's).
        refused: open.refused.size,
        why,
        ...closedFields(open, {
          globalStep: this.globalStep,
          epoch: this.progress.current,
          epochImages: this.o.plan.trainCount,
          epochDone: this.o.sampler.epochDone,
        }),
      },
      'round closed',
    );
    this.o.hooks.onRoundClosed?.(
      summaryOf(open, { version, globalStep: this.globalStep, evicted, epochSamplesDone: this.progress.current.samples }),
    );
    const next = await this.progress.afterRound(round, version);
    // Before the next round starts: a contribution to it may come in the same tick as its assignment.
    this.closing = false;
    if (next === 'finished') {
      this.lifecycle = 'finished';
      this.o.membership.stop();
      this.wakeWaiters();
      this.finishedResolve();
      this.drainWaiter?.settle('finished');
      return;
    }
    if (this.draining) {
      this.drainWaiter?.settle('closed');
      return;
    }
    this.startRound();
  }
}

/** `worker`'s indices in the open round (none when it is not planned in it). */
function assignmentIndices(open: OpenRound, worker: string): number[] {
  const assignment = open.plan.assignments.find((a) => a.worker === worker);
  return assignment ? assignment.batches.flatMap((b) => [...b]) : [];
}

/** A refusal's log and eviction fields. */
function refusalFields(r: { worker: string; name: string; round: number; epoch: number }, verdict: CheckVerdict): Record<string, unknown> {
  return {
    worker: r.worker,
    name: r.name,
    round: r.round,
    epoch: r.epoch,
    rule: verdict.rule,
    recentRefusals: verdict.recentRefusals,
    ...verdict.figures,
    ...(verdict.secondOpinion ? { secondOpinion: verdict.secondOpinion } : {}),
  };
}
