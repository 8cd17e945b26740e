import { isErrorLine, type ChildLine, type LogRecord } from './child-log-line.js';

/** What a worker process is doing, as its log lines and exit tell. */
export type WorkerStatus = 'starting' | 'ready' | 'training' | 'evicted' | 'done' | 'failed' | 'stopped';

export interface WorkerView {
  process: string;
  /** The coordinator's id for it (from its lines), once registered. */
  id: string | null;
  status: WorkerStatus;
  round: number | null;
  /** Its last round's loss and training speed (images per second of its own compute). */
  lastLoss: number | null;
  imagesPerSecond: number | null;
}

/** A worker's share of one epoch. */
export interface WorkerEpochSummary {
  process: string;
  epoch: number;
  rounds: number;
  images: number;
  /** Mean over its images. */
  loss: number | null;
  /** Its images over its training time. */
  imagesPerSecond: number | null;
}

/** The epoch in progress: the global images applied so far. */
export interface EpochView {
  epoch: number;
  imagesDone: number;
  /** Train images this epoch; null until the coordinator's first round of it closed. */
  images: number | null;
  loss: number | null;
  accuracy: number | null;
  lr: number | null;
  /** Rounds' wall time so far (the coordinator's), for images per second. */
  roundMs: number;
}

/** An epoch's training, once its last round closed. */
export interface EpochTrained {
  epoch: number;
  images: number;
  seconds: number;
  imagesPerSecond: number | null;
  trainLoss: number | null;
  trainAccuracy: number | null;
  lr: number | null;
  workers: WorkerEpochSummary[];
}

/** A test-set score of the model at an epoch's end (the evaluator's, or the coordinator's own). */
export interface EpochScore {
  epoch: number;
  version: number | null;
  accuracy: number;
  /** Test loss; null where the line has none (the coordinator scoring by itself logs the train loss). */
  loss: number | null;
  trainLoss: number | null;
  accuracyPercent: string;
  weakest: string;
  mostConfused: string;
}

export type ClusterEvent =
  | { type: 'epoch.started'; epoch: number }
  | { type: 'progress'; epoch: EpochView }
  | { type: 'worker'; worker: WorkerView }
  | { type: 'epoch.done'; trained: EpochTrained }
  | { type: 'epoch.scored'; score: EpochScore }
  | { type: 'evaluator'; status: string }
  | { type: 'error'; line: ChildLine };

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

interface WorkerTally {
  rounds: number;
  images: number;
  lossSum: number;
  trainMs: number;
}

/**
 * The local cluster's progress, folded from its processes' JSON log lines
 * (parsed, never scraped): the coordinator's 'round closed' (global images
 * of the epoch, running loss and accuracy, lr) and epoch-end lines, each
 * worker's 'round contributed' (its loss and speed), the evaluator's
 * 'checkpoint evaluated'. `take` returns what changed, for a view to show.
 */
export class ClusterProgress {
  readonly workers = new Map<string, WorkerView>();
  epoch: EpochView | null = null;
  /** Every epoch whose training finished. */
  readonly trained: EpochTrained[] = [];
  readonly scores: EpochScore[] = [];
  /** The best test accuracy scored (any checkpoint), with its epoch. */
  best: { accuracy: number; epoch: number } | null = null;
  /**
   * The latest epoch end (its last round's close, by the coordinator's
   * clock) and, once scored, the time from it to its score: at the run's
   * end, from the end of training to the final score.
   */
  lastEpochEnd: { epoch: number; version: number | null; closedAt: number | null; scoredAfterMs: number | null } | null = null;
  private readonly tallies = new Map<string, Map<number, WorkerTally>>();
  /** Master versions written at an epoch's end: the evaluator's score of one is that epoch's result. */
  private readonly epochEndVersions = new Map<number, number>();
  /** An epoch whose last round closed, told once every worker's share of it is in (or the next epoch begins). */
  private pendingDone: Omit<EpochTrained, 'workers'> | null = null;

  constructor(workerNames: readonly string[]) {
    for (const process of workerNames) {
      this.workers.set(process, { process, id: null, status: 'starting', round: null, lastLoss: null, imagesPerSecond: null });
    }
  }

  take(line: ChildLine): ClusterEvent[] {
    const events: ClusterEvent[] = [];
    if (isErrorLine(line)) events.push({ type: 'error', line });
    const r = line.record;
    if (!r || typeof r.msg !== 'string') return events;
    if (line.process === 'coordinator') this.coordinatorLine(r, events);
    else if (line.process === 'evaluator') this.evaluatorLine(r, events);
    else if (this.workers.has(line.process)) this.workerLine(line.process, r, events);
    return events;
  }

  /** A process exited (`stopping`: the launcher had asked it to). */
  exited(process: string, code: number | null, signal: string | null, stopping: boolean): ClusterEvent[] {
    if (process === 'evaluator') {
      // Done: its last score stays on show.
      if (code === 0) return [];
      return [{ type: 'evaluator', status: stopping ? 'stopped' : `failed (${code !== null ? `code ${code}` : `signal ${signal}`})` }];
    }
    const w = this.workers.get(process);
    if (!w) return [];
    if (code === 0) w.status = w.status === 'failed' ? 'failed' : 'done';
    else w.status = stopping ? 'stopped' : 'failed';
    return [{ type: 'worker', worker: { ...w } }];
  }

  /** At the end: an epoch end still waiting for its workers' lines is told now. */
  flush(): ClusterEvent[] {
    const events: ClusterEvent[] = [];
    this.tellDone(events);
    return events;
  }

  get epochsTrained(): number {
    return this.trained.length;
  }

  private coordinatorLine(r: LogRecord, events: ClusterEvent[]): void {
    if (r.msg === 'round closed') {
      const epoch = num(r.epoch);
      if (epoch === null) return;
      this.enterEpoch(epoch, events);
      const e = this.epoch!;
      e.imagesDone = num(r.epochImagesDone) ?? e.imagesDone + (num(r.samples) ?? 0);
      e.images = num(r.epochImages) ?? e.images;
      e.loss = num(r.epochLoss) ?? e.loss;
      e.accuracy = num(r.epochAccuracy) ?? e.accuracy;
      e.lr = num(r.lr) ?? e.lr;
      e.roundMs += num(r.roundMs) ?? 0;
      events.push({ type: 'progress', epoch: { ...e } });
      if (r.epochDone === true) {
        const version = num(r.version);
        if (version !== null) this.epochEndVersions.set(version, epoch);
        this.lastEpochEnd = { epoch, version, closedAt: num(r.time), scoredAfterMs: null };
        const seconds = e.roundMs / 1000;
        this.pendingDone = {
          epoch,
          images: e.imagesDone,
          seconds,
          imagesPerSecond: seconds > 0 ? e.imagesDone / seconds : null,
          trainLoss: e.loss,
          trainAccuracy: e.accuracy,
          lr: e.lr,
        };
        this.tellDoneWhenWorkersAreIn(events);
      }
    } else if (r.msg === 'checkpoint written' && r.reason === 'epoch end') {
      const version = num(r.version);
      if (version !== null && this.epoch && !this.epochEndVersions.has(version)) this.epochEndVersions.set(version, this.epoch.epoch);
    } else if (r.msg === 'epoch done') {
      // The coordinator scored the test set itself (no evaluator service).
      const epoch = num(r.epoch);
      const accuracy = num(r.testAccuracy);
      if (epoch === null || accuracy === null) return;
      this.score(
        { epoch, version: num(r.version), accuracy, loss: num(r.testLoss), trainLoss: num(r.trainLoss), ...readable(r, accuracy) },
        true,
        events,
        num(r.time),
      );
    } else if (typeof r.msg === 'string' && r.msg.startsWith('worker evicted')) {
      const w = [...this.workers.values()].find((x) => x.id !== null && x.id === r.worker);
      if (w) {
        w.status = 'evicted';
        events.push({ type: 'worker', worker: { ...w } });
      }
    }
  }

  private evaluatorLine(r: LogRecord, events: ClusterEvent[]): void {
    if (r.msg === 'evaluator ready') events.push({ type: 'evaluator', status: 'waiting for checkpoints' });
    else if (r.msg === 'checkpoint evaluated') {
      const version = num(r.version);
      const accuracy = num(r.accuracy);
      const epoch = num(r.epoch);
      if (accuracy === null || epoch === null) return;
      const epochEnd = r.epochEnd === true || (version !== null && this.epochEndVersions.get(version) === epoch);
      const score: EpochScore = { epoch, version, accuracy, loss: num(r.loss), trainLoss: null, ...readable(r, accuracy) };
      this.score(score, epochEnd, events, num(r.time));
      events.push({ type: 'evaluator', status: `scored version ${version ?? '?'} (epoch ${epoch}): ${score.accuracyPercent}` });
    }
  }

  private workerLine(process: string, r: LogRecord, events: ClusterEvent[]): void {
    const w = this.workers.get(process)!;
    const id = str(r.worker);
    if (id !== null) w.id = id;
    if (r.msg === 'worker ready') w.status = 'ready';
    else if (r.msg === 'round contributed') {
      const epoch = num(r.epoch);
      const samples = num(r.samples) ?? 0;
      const loss = num(r.loss);
      w.status = 'training';
      w.round = num(r.round);
      w.lastLoss = loss;
      w.imagesPerSecond = num(r.imagesPerSecond);
      if (epoch !== null) {
        this.enterEpoch(epoch, events);
        const byEpoch = this.tallies.get(process) ?? new Map<number, WorkerTally>();
        this.tallies.set(process, byEpoch);
        const t = byEpoch.get(epoch) ?? { rounds: 0, images: 0, lossSum: 0, trainMs: 0 };
        t.rounds++;
        t.images += samples;
        t.lossSum += (loss ?? 0) * samples;
        t.trainMs += num(r.trainMs) ?? 0;
        byEpoch.set(epoch, t);
        this.tellDoneWhenWorkersAreIn(events);
      }
    } else if (r.msg === 'evicted by the coordinator: registered again') w.status = 'evicted';
    else if (r.msg === 'worker done') w.status = 'done';
    else return;
    events.push({ type: 'worker', worker: { ...w } });
  }

  /** A line of a later epoch: the earlier one is over, its end told; the new one starts. */
  private enterEpoch(epoch: number, events: ClusterEvent[]): void {
    if (this.epoch && epoch <= this.epoch.epoch) return;
    this.tellDone(events);
    this.epoch = { epoch, imagesDone: 0, images: null, loss: null, accuracy: null, lr: null, roundMs: 0 };
    events.push({ type: 'epoch.started', epoch });
  }

  private tellDoneWhenWorkersAreIn(events: ClusterEvent[]): void {
    const done = this.pendingDone;
    if (!done) return;
    let images = 0;
    for (const byEpoch of this.tallies.values()) images += byEpoch.get(done.epoch)?.images ?? 0;
    if (images >= done.images) this.tellDone(events);
  }

  private tellDone(events: ClusterEvent[]): void {
    const done = this.pendingDone;
    if (!done) return;
    this.pendingDone = null;
    const workers = [...this.workers.keys()].map((process): WorkerEpochSummary => {
      const t = this.tallies.get(process)?.get(done.epoch);
      return {
        process,
        epoch: done.epoch,
        rounds: t?.rounds ?? 0,
        images: t?.images ?? 0,
        loss: t && t.images > 0 ? t.lossSum / t.images : null,
        imagesPerSecond: t && t.trainMs > 0 ? (t.images * 1000) / t.trainMs : null,
      };
    });
    const trained = { ...done, workers };
    this.trained.push(trained);
    events.push({ type: 'epoch.done', trained });
  }

  private score(score: EpochScore, epochEnd: boolean, events: ClusterEvent[], at: number | null): void {
    if (!this.best || score.accuracy > this.best.accuracy) this.best = { accuracy: score.accuracy, epoch: score.epoch };
    if (!epochEnd) return;
    const last = this.lastEpochEnd;
    if (last && last.epoch === score.epoch && last.version === score.version && last.closedAt !== null && at !== null)
      last.scoredAfterMs ??= Math.max(0, at - last.closedAt);
    this.scores.push(score);
    events.push({ type: 'epoch.scored', score });
  }
}

function readable(r: LogRecord, accuracy: number): Pick<EpochScore, 'accuracyPercent' | 'weakest' | 'mostConfused'> {
  return {
    accuracyPercent: str(r.accuracyPercent) ?? `${(accuracy * 100).toFixed(2)}%`,
    weakest: str(r.weakest) ?? '-',
    mostConfused: str(r.mostConfused) ?? '-',
  };
}
