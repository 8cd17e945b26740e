import type { FleetEvent } from '../../src/events/event-payloads.js';
import { asTyped, RunView, WATCH_RULES } from '../../src/events/run-view.js';
import type { EpochPoint, EvaluationRow, RunDetail, RunStatus, RunSummary, WorkerRow } from './api-types.js';
import { RoundSplits } from './round-splits.js';
import { SeenEvents } from './seen-events.js';

/**
 * One run's events folded into what the dashboard draws (pure: no clock, no
 * I/O). fleet watch's RunView keeps the workers, rates, best and straggler;
 * this adds what a page shows over time: the epoch curves, the lr by step,
 * every evaluation, the latest confusion matrix and each worker's round split.
 */

/** Rounds a worker's split is averaged over (fleet watch's stats window). */
const SPLIT_WINDOW_ROUNDS = WATCH_RULES.statsWindowRounds;
/** At most this many lr points are kept; beyond, every other one is dropped (the curve keeps its shape). */
const MAX_LR_POINTS = 2000;
/** Evaluations listed at most (the newest). */
const MAX_EVALUATIONS = 500;

export class RunBoard {
  private readonly view: RunView;
  private readonly seen = new SeenEvents();
  private readonly epochs = new Map<number, EpochPoint>();
  private lr: { step: number; lr: number }[] = [];
  private lrStride = 1;
  private lrSeen = 0;
  private evaluations: EvaluationRow[] = [];
  private confusion: RunDetail['confusion'] = null;
  private readonly splits = new RoundSplits(SPLIT_WINDOW_ROUNDS);
  private started: string | null = null;
  private bestAccuracy: number | null = null;

  constructor(readonly id: string) {
    this.view = new RunView(id);
  }

  apply(event: FleetEvent): void {
    if (event.run !== this.id) return;
    if (!this.seen.first(event)) return;
    this.view.apply(event);
    const e = asTyped(event);
    switch (e.type) {
      case 'run.started':
        this.started ??= e.time;
        this.splits.restarted();
        break;
      case 'worker.progress':
        this.splits.progress(e.data);
        break;
      case 'round': {
        const d = e.data;
        this.splits.closed(d.round, d.roundMs);
        this.addLr(d.globalStep, d.lr);
        break;
      }
      case 'epoch': {
        const p = this.point(e.data.epoch);
        p.trainLoss = e.data.trainLoss;
        p.trainAccuracy = e.data.trainAccuracy;
        break;
      }
      case 'eval': {
        const d = e.data;
        const row: EvaluationRow = {
          version: d.version,
          epoch: d.epoch,
          epochEnd: d.epochEnd,
          accuracy: d.accuracy,
          loss: d.loss,
          best: d.best,
        };
        // A version scored again after an evaluator's crash replaces its row.
        this.evaluations = this.evaluations.filter((x) => x.version !== d.version);
        this.evaluations.push(row);
        this.evaluations.sort((a, b) => (a.version ?? 0) - (b.version ?? 0));
        if (this.evaluations.length > MAX_EVALUATIONS) this.evaluations.shift();
        if (d.epochEnd) {
          const p = this.point(d.epoch);
          p.testLoss = d.loss;
          p.testAccuracy = d.accuracy;
        }
        if (this.confusion === null || d.version >= (this.confusion.version ?? -1)) {
          this.confusion = { epoch: d.epoch, version: d.version, matrix: d.confusion, perClassAccuracy: d.perClassAccuracy };
        }
        this.bestAccuracy = Math.max(this.bestAccuracy ?? 0, d.accuracy);
        break;
      }
      default:
        break;
    }
  }

  /** Seen any event of the run yet. */
  get hasEvents(): boolean {
    return this.seen.any;
  }

  summary(nowMs: number): RunSummary {
    const s = this.view.snapshot(nowMs);
    const status: RunStatus = s.finished?.status ?? 'running';
    return {
      id: this.id,
      source: 'events',
      model: s.config?.model ?? null,
      workers: s.config?.workers ?? null,
      status,
      bestAccuracy: s.best?.accuracy ?? this.bestAccuracy,
      started: this.started,
      epochsDone: [...this.epochs.values()].filter((p) => p.testAccuracy !== null || p.trainLoss !== null).length,
      epochs: s.config?.epochs ?? null,
    };
  }

  detail(nowMs: number, classNames: readonly string[]): RunDetail {
    const s = this.view.snapshot(nowMs);
    const workers: WorkerRow[] = s.members.map((m) => ({
      id: m.worker,
      name: m.name,
      status: m.status,
      leftReason: m.leftReason,
      imagesPerSecond: m.imagesPerSecondEma,
      loss: m.lossEma,
      round: m.round,
      split: this.splits.mean(m.worker),
      straggledRounds: m.straggledRounds,
      straggler: s.straggler?.worker === m.worker,
    }));
    return {
      summary: this.summary(nowMs),
      dir: null,
      curves: [...this.epochs.values()].sort((a, b) => a.epoch - b.epoch),
      lr: this.lr,
      workers,
      windowRounds: s.windowRounds,
      evaluations: this.evaluations,
      best: s.best,
      confusion: this.confusion,
      classNames: [...classNames],
      progress: {
        epoch: s.epoch,
        epochFraction: s.epochProgress?.fraction ?? null,
        globalStep: s.globalStep,
        totalSteps: s.totalSteps,
        imagesPerSecond: s.imagesPerSecond,
        etaMs: s.etaMs,
      },
      finished: s.finished === null ? null : { status: s.finished.status, reason: s.finished.reason },
    };
  }

  private point(epoch: number): EpochPoint {
    let p = this.epochs.get(epoch);
    if (p === undefined) {
      p = { epoch, trainLoss: null, trainAccuracy: null, testLoss: null, testAccuracy: null };
      this.epochs.set(epoch, p);
    }
    return p;
  }

  /** Keeps every `lrStride`-th round's lr, doubling the stride (and halving the points) when full. */
  private addLr(step: number, lr: number): void {
    if (this.lrSeen++ % this.lrStride !== 0) return;
    this.lr.push({ step, lr });
    if (this.lr.length >= MAX_LR_POINTS) {
      this.lr = this.lr.filter((_, i) => i % 2 === 0);
      this.lrStride *= 2;
    }
  }
}
