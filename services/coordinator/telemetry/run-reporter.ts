import type { EventPayloads, EventPublisher } from '../../../src/events/index.js';
import type { CoordinatorMetrics } from '../../../src/runtime/metrics/index.js';
import type { Logger } from '../../../src/runtime/logger.js';
import type { WriteFailure } from '../../../src/runtime/disk-writes.js';
import { epochTraining, rate, type EpochTraining } from '../../../src/training/run-record/index.js';
import type {
  BatchAtFault,
  ContributionRefusal,
  DirectionQuarantine,
  EpochTotals,
  MembershipChange,
  RoundSummary,
} from '../rounds/round-controller.js';

/** Bytes the server moved since the last round closed (counted per fetch and contribution). */
export class ExchangeCounter {
  in = 0;
  out = 0;
  take(): { in: number; out: number } {
    const t = { in: this.in, out: this.out };
    this.in = 0;
    this.out = 0;
    return t;
  }
}

/**
 * The coordinator's view of the run, told to the events bus and to the
 * Prometheus metrics: who joined and left, each round (with the worker that
 * kept the others waiting), epochs, checkpoints, evaluations, the end.
 * Publishing only queues: the rounds never wait for NATS.
 */
export class RunReporter {
  /** The current epoch's rounds: their time, samples and last learning rate (what its metrics line reports). */
  private epochRounds = { ms: 0, samples: 0, lr: 0 };

  constructor(
    private readonly run: string,
    private readonly events: EventPublisher,
    private readonly metrics: CoordinatorMetrics,
    private readonly exchange: ExchangeCounter,
    private readonly log: Logger,
  ) {
    metrics.eventsPending.track(events);
  }

  started(data: EventPayloads['run.started']): void {
    this.metrics.parameterVersion.set(data.version);
    this.emit('run.started', data);
  }

  /** A contribution refused with the error class the worker was sent. */
  contributionRefused(errorClass: string): void {
    this.metrics.contributionsRefused.inc({ reason: errorClass });
  }

  /** A call refused for its token (it was logged by the server). */
  callUnauthenticated(method: string): void {
    this.metrics.unauthenticatedCalls.inc({ method });
  }

  membership(change: MembershipChange): void {
    this.metrics.members.set(change.members);
    if (change.kind === 'joined') {
      this.emit('worker.joined', { worker: change.worker, name: change.name, members: change.members });
    } else {
      this.metrics.workerImagesPerSecond.remove({ worker: change.worker });
      this.emit('worker.left', { worker: change.worker, reason: change.reason, members: change.members });
    }
  }

  /** A second opinion blamed the batch: the refusals that waited for it are not counted. */
  batchAtFault(b: BatchAtFault): void {
    this.emit('worker.batch_at_fault', {
      round: b.round,
      epoch: b.epoch,
      worker: b.applied.worker,
      name: b.applied.name,
      norm: b.applied.norm,
      medianNorm: b.applied.medianNorm,
      refused: b.refused,
    });
  }

  /** The contribution check accepted a contribution and scaled it down to its clip bound. */
  contributionClipped(r: ContributionRefusal): void {
    const f = r.verdict.figures;
    this.metrics.contributionsClipped.inc({ worker: r.name });
    this.emit('worker.contribution_clipped', {
      worker: r.worker,
      name: r.name,
      round: r.round,
      epoch: r.epoch,
      norm: f.norm,
      medianNorm: f.medianNorm ?? 0,
      cosine: f.cosine !== null && Number.isFinite(f.cosine) ? f.cosine : null,
      clipFactor: f.clipFactor,
      scale: r.verdict.clip ?? 1,
    });
  }

  /** The contribution check refused a contribution (and perhaps quarantined its worker). */
  contributionChecked(r: ContributionRefusal): void {
    const f = r.verdict.figures;
    const figures = {
      rule: r.verdict.rule ?? 'norm-above',
      // A norm that overflowed to Infinity is not JSON: null.
      norm: Number.isFinite(f.norm) ? f.norm : null,
      medianNorm: f.medianNorm,
      cosine: f.cosine !== null && Number.isFinite(f.cosine) ? f.cosine : null,
      normFactor: f.normFactor,
      cosineMin: f.cosineMin,
      recentRefusals: r.verdict.recentRefusals,
      // How a counted refusal was settled: confirmed by other members' accepted work on its batches, or alone.
      ...(r.verdict.secondOpinion === 'confirmed' || r.verdict.secondOpinion === 'alone' ? { secondOpinion: r.verdict.secondOpinion } : {}),
    };
    this.emit('worker.contribution_refused', { worker: r.worker, name: r.name, round: r.round, epoch: r.epoch, ...figures });
    // A quarantine follows a counted refusal (norm-above or cosine), never a probation hold-back.
    if (r.verdict.quarantine && (figures.rule === 'norm-above' || figures.rule === 'cosine'))
      this.emit('worker.quarantined', { worker: r.worker, name: r.name, round: r.round, ...figures, rule: figures.rule });
  }

  /** The contribution check's direction rule quarantined a worker (none of its contributions was refused). */
  directionQuarantine(q: DirectionQuarantine, check: { normFactor: number; cosineMin: number }): void {
    this.emit('worker.quarantined', {
      worker: q.worker,
      name: q.name,
      round: q.round,
      rule: 'direction',
      norm: null,
      medianNorm: null,
      cosine: q.cosine,
      normFactor: check.normFactor,
      cosineMin: check.cosineMin,
      recentRefusals: 0,
      lowest: q.lowest,
      rounds: q.rounds,
      meanCosine: q.meanCosine,
      directionLowest: q.directionLowest,
    });
  }

  roundClosed(s: RoundSummary, epochSamples: number): void {
    const bytes = this.exchange.take();
    const last = s.arrivals.at(-1);
    const before = s.arrivals.at(-2);
    for (const a of s.arrivals) {
      const imagesPerSecond = a.trainMs > 0 ? (a.samples * 1000) / a.trainMs : 0;
      this.metrics.workerImagesPerSecond.set({ worker: a.worker }, imagesPerSecond);
      this.emit('worker.progress', {
        worker: a.worker,
        round: s.round,
        epoch: s.epoch,
        samples: a.samples,
        loss: a.samples > 0 ? a.lossSum / a.samples : 0,
        trainMs: a.trainMs,
        imagesPerSecond,
        arrivedMs: a.arrivedMs,
        ...(a.downloadMs !== undefined ? { downloadMs: a.downloadMs } : {}),
        ...(a.previousUpload !== undefined ? { uploadMs: a.previousUpload.ms, uploadRound: a.previousUpload.round } : {}),
      });
    }
    this.epochRounds = { ms: this.epochRounds.ms + s.roundMs, samples: this.epochRounds.samples + s.samples, lr: s.lr };
    this.metrics.rounds.inc();
    this.metrics.roundSeconds.observe(s.roundMs / 1000);
    this.metrics.samples.inc(s.samples);
    this.metrics.exchangeBytes.inc({ direction: 'in' }, bytes.in);
    this.metrics.exchangeBytes.inc({ direction: 'out' }, bytes.out);
    this.metrics.imagesPerSecond.set(s.roundMs > 0 ? (s.samples * 1000) / s.roundMs : 0);
    this.metrics.parameterVersion.set(s.version);
    this.metrics.epoch.set(s.epoch);
    this.metrics.lastRoundTimestamp.set(Date.now() / 1000);
    this.emit('round', {
      round: s.round,
      epoch: s.epoch,
      version: s.version,
      globalStep: s.globalStep,
      members: s.members,
      samples: s.samples,
      epochSamplesDone: s.epochSamplesDone,
      epochSamples,
      roundMs: s.roundMs,
      // The last to arrive kept the others waiting by its lead over the one before it.
      straggler: last && before ? last.worker : null,
      straggleMs: last && before ? last.arrivedMs - before.arrivedMs : 0,
      bytesIn: bytes.in,
      bytesOut: bytes.out,
      lr: s.lr,
    });
  }

  /**
   * The epoch's training as its metrics line reports it. Its time is the sum
   * of its rounds: waiting for workers to join, scoring and checkpoints are
   * not training, as in a one-process run. After a resume the rate counts the
   * rounds this process ran.
   */
  epochEnded(totals: EpochTotals, at: { version: number; step: number; workers: number }): EpochTraining {
    const rounds = this.epochRounds;
    this.epochRounds = { ms: 0, samples: 0, lr: 0 };
    const epochSeconds = rounds.ms / 1000;
    const training = epochTraining(totals, {
      step: at.step,
      lr: rounds.lr,
      epochSeconds,
      imagesPerSecond: rate(rounds.samples, epochSeconds),
      workers: at.workers,
      version: at.version,
    });
    this.emit('epoch', {
      epoch: totals.epoch,
      version: at.version,
      globalStep: at.step,
      samples: totals.samples,
      trainLoss: training.trainLoss,
      trainAccuracy: training.trainAccuracy,
      epochMs: rounds.ms,
    });
    return training;
  }

  /** `written` false: the file was not written (a full disk), the version is still fetchable for the evaluator. */
  checkpoint(data: EventPayloads['checkpoint'], written = true): void {
    if (written) this.metrics.checkpointVersion.set({ kind: data.epochEnd ? 'epoch_end' : 'periodic' }, data.version);
    // One id per version: a coordinator resumed from an older checkpoint re-announces it once.
    this.emit('checkpoint', data, `checkpoint:${this.run}:${data.version}`);
  }

  evaluated(data: EventPayloads['eval']): void {
    this.metrics.testAccuracy.set(data.accuracy);
    this.emit('eval', data, `eval:${this.run}:${data.version}`);
  }

  best(data: EventPayloads['best']): void {
    this.metrics.bestTestAccuracy.set(data.accuracy);
    this.emit('best', data, `best:${this.run}:${data.version}`);
  }

  /** A run file the disk refused (already logged): counted and published. */
  writeFailed(f: WriteFailure): void {
    this.metrics.writeFailures.inc({ what: f.what });
    const { what, path, code, message, consecutive, round, epoch } = f;
    this.emit('run.write_failed', { what, path, code, message: message.slice(0, 2000), consecutive, round, epoch });
  }

  finished(data: EventPayloads['run.finished']): void {
    this.emit('run.finished', data);
  }

  /** A bad payload is our bug: log it, never let it stop training. */
  private emit<T extends keyof EventPayloads>(type: T, data: EventPayloads[T], msgId?: string): void {
    try {
      this.events.publish(type, data, msgId ? { msgId } : undefined);
    } catch (err) {
      this.log.error({ err, type }, 'event not published');
    }
  }
}
