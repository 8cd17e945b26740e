import type { EventType, FleetEvent } from './event-payloads.js';

/**
 * The state behind `fleet watch` and `fleet dashboard`: a pure reducer over a run's events (no
 * clock, no I/O), so the view is a function of the events seen and the
 * `nowMs` handed to `snapshot`. Times that matter for rates (ETA, images/s)
 * come from the events' own `time` (the publisher's clock), so a replay from
 * the start of a run shows the same numbers it showed live.
 */

/** FleetEvent with `type` and `data` tied together, so `switch (e.type)` narrows `data`. */
export type TypedFleetEvent = { [T in EventType]: FleetEvent<T> }[EventType];

/** The bus validates envelope and payload together, so the pairing holds. */
export function asTyped(event: FleetEvent): TypedFleetEvent {
  return event as TypedFleetEvent;
}

/** Windows and thresholds of the view; exported so tests and docs quote the same numbers. */
export const WATCH_RULES = {
  /** Round time mean, ETA, global images/s and per-worker straggle counts look this far back. */
  statsWindowRounds: 20,
  /** The straggler rule (see `namedStraggler`) looks this far back... */
  stragglerWindowRounds: 10,
  /** ...and judges nobody before this many rounds. */
  stragglerMinRounds: 5,
  stragglerMinShare: 0.6,
  stragglerMinRoundFraction: 0.2,
  stragglerMinMs: 50,
  /** Smoothing of per-worker loss and images/s: ~5 rounds of memory. */
  emaAlpha: 0.2,
} as const;

export interface RunConfigView {
  workers: number;
  model: string;
  epochs: number;
  batchSize: number;
  syncEvery: number;
  trainSamples: number;
  totalSteps: number;
  resumed: boolean;
}

/** What the view keeps of a worker. */
interface WorkerState {
  worker: string;
  /** From worker.joined; the id when the worker was first seen in its progress. */
  name: string;
  status: 'active' | 'left';
  leftReason: string | null;
  round: number | null;
  epoch: number | null;
  /** Samples this worker contributed in `epoch` (since watching, when following from 'new'). */
  epochSamples: number;
  loss: number | null;
  lossEma: number | null;
  imagesPerSecond: number | null;
  imagesPerSecondEma: number | null;
  /** Publisher time of the worker's last event, epoch ms. */
  lastSeenMs: number | null;
}

export interface WorkerSnapshot extends WorkerState {
  /** nowMs - lastSeenMs, clamped at 0 (the two clocks may differ a little). */
  sinceSeenMs: number | null;
  /** Rounds of the last `statsWindowRounds` in which it arrived last. */
  straggledRounds: number;
}

export interface EpochProgress {
  done: number;
  total: number;
  /** done / total in [0, 1]. */
  fraction: number;
}

export interface EvalView {
  version: number;
  epoch: number;
  globalStep: number;
  epochEnd: boolean;
  accuracy: number;
  loss: number;
}

export interface BestView {
  version: number;
  epoch: number;
  accuracy: number;
  /** Null until the `best` event for this version names the files. */
  path: string | null;
}

export interface EpochSummary {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  epochMs: number;
}

export interface StragglerView {
  worker: string;
  name: string;
  /** Rounds of the last `windowRounds` in which it arrived last. */
  rounds: number;
  windowRounds: number;
  /** Mean wait it caused in those rounds, and the mean round time of the window. */
  meanStraggleMs: number;
  meanRoundMs: number;
}

export interface FinishedView {
  status: 'finished' | 'failed' | 'stopped';
  reason: string | null;
  version: number;
  epochs: number;
}

/** Run files the disk refused (run.write_failed): how many, and the last. */
export interface WriteFailedView {
  count: number;
  what: string;
  path: string;
  code: string;
  /** The last one's target's failures in a row. */
  consecutive: number;
  source: string;
}

export interface WatchSnapshot {
  run: string | null;
  config: RunConfigView | null;
  /** Everyone seen, active and left, in a stable order (worker id, numeric-aware). */
  members: WorkerSnapshot[];
  activeMembers: number;
  epoch: number | null;
  epochProgress: EpochProgress | null;
  round: number | null;
  globalStep: number | null;
  totalSteps: number | null;
  lr: number | null;
  roundMs: number | null;
  /** Mean round time over the last `statsWindowRounds` rounds. */
  roundMsMean: number | null;
  /** Samples per wall-clock second across the recent rounds (null before two rounds). */
  imagesPerSecond: number | null;
  /** Wall-clock ms per global step across the recent rounds (null before two rounds). */
  msPerStep: number | null;
  /** Remaining steps x msPerStep; 0 once finished; null until known and after a failure. */
  etaMs: number | null;
  /** Rounds in the stats window (at most `statsWindowRounds`): the denominator of `straggledRounds`. */
  windowRounds: number;
  /** Summed over the rounds seen. */
  bytesIn: number;
  bytesOut: number;
  lastEpoch: EpochSummary | null;
  latestEval: EvalView | null;
  best: BestView | null;
  straggler: StragglerView | null;
  finished: FinishedView | null;
  writeFailed: WriteFailedView | null;
  events: number;
  /** Publisher time of the latest event, and nowMs minus it (clamped at 0): a stalled run shows here. */
  lastEventMs: number | null;
  sinceEventMs: number | null;
}

interface RoundEntry {
  round: number;
  globalStep: number;
  timeMs: number;
  roundMs: number;
  samples: number;
  straggler: string | null;
  straggleMs: number;
}

export class RunView {
  private run: string | null;
  private config: RunConfigView | null = null;
  private readonly workers = new Map<string, WorkerState>();
  /** Last seq per source: a redelivered event is applied once. */
  private readonly lastSeq = new Map<string, number>();
  private rounds: RoundEntry[] = [];
  private lastRound: (RoundEntry & { epoch: number; epochSamplesDone: number; epochSamples: number; lr: number }) | null = null;
  private progressEpoch: number | null = null;
  private bytesIn = 0;
  private bytesOut = 0;
  private lastEpoch: EpochSummary | null = null;
  private latestEval: EvalView | null = null;
  private best: BestView | null = null;
  private finished: FinishedView | null = null;
  private writeFailed: WriteFailedView | null = null;
  private events = 0;
  private lastEventMs: number | null = null;

  /** With `run`, events of other runs are ignored; without, the first event names it. */
  constructor(run?: string) {
    this.run = run ?? null;
  }

  apply(event: FleetEvent): void {
    if (this.run !== null && event.run !== this.run) return;
    const seen = this.lastSeq.get(event.source);
    if (seen !== undefined && event.seq <= seen) return;
    this.lastSeq.set(event.source, event.seq);
    this.run ??= event.run;
    this.events++;
    const timeMs = Date.parse(event.time);
    if (Number.isFinite(timeMs)) this.lastEventMs = Math.max(this.lastEventMs ?? timeMs, timeMs);
    const e = asTyped(event);
    switch (e.type) {
      case 'run.started': {
        const d = e.data;
        this.config = {
          workers: d.workers,
          model: d.model,
          epochs: d.epochs,
          batchSize: d.batchSize,
          syncEvery: d.syncEvery,
          trainSamples: d.trainSamples,
          totalSteps: d.totalSteps,
          resumed: d.resumed,
        };
        // A restarted coordinator has forgotten its members (they register
        // again) and its timing starts afresh: rates must not span the gap.
        if (d.resumed) {
          for (const w of this.workers.values()) {
            if (w.status === 'active') this.markLeft(w, 'coordinator restarted');
          }
        }
        this.rounds = [];
        this.finished = null;
        break;
      }
      case 'worker.joined': {
        const w = this.worker(e.data.worker);
        w.name = e.data.name || e.data.worker;
        w.status = 'active';
        w.leftReason = null;
        w.lastSeenMs = finiteOr(timeMs, w.lastSeenMs);
        break;
      }
      case 'worker.left':
        this.markLeft(this.worker(e.data.worker), e.data.reason);
        break;
      case 'worker.progress': {
        const d = e.data;
        const w = this.worker(d.worker);
        if (w.epoch !== d.epoch) w.epochSamples = 0;
        w.epoch = d.epoch;
        w.epochSamples += d.samples;
        w.round = d.round;
        w.loss = d.loss;
        w.lossEma = ema(w.lossEma, d.loss);
        w.imagesPerSecond = d.imagesPerSecond;
        w.imagesPerSecondEma = ema(w.imagesPerSecondEma, d.imagesPerSecond);
        w.lastSeenMs = finiteOr(timeMs, w.lastSeenMs);
        this.progressEpoch = Math.max(this.progressEpoch ?? 0, d.epoch);
        break;
      }
      case 'round': {
        const d = e.data;
        const entry: RoundEntry = {
          round: d.round,
          globalStep: d.globalStep,
          timeMs,
          roundMs: d.roundMs,
          samples: d.samples,
          straggler: d.straggler,
          straggleMs: d.straggleMs,
        };
        this.rounds.push(entry);
        if (this.rounds.length > WATCH_RULES.statsWindowRounds) this.rounds.shift();
        this.lastRound = { ...entry, epoch: d.epoch, epochSamplesDone: d.epochSamplesDone, epochSamples: d.epochSamples, lr: d.lr };
        this.bytesIn += d.bytesIn;
        this.bytesOut += d.bytesOut;
        break;
      }
      case 'epoch':
        this.lastEpoch = { epoch: e.data.epoch, trainLoss: e.data.trainLoss, trainAccuracy: e.data.trainAccuracy, epochMs: e.data.epochMs };
        break;
      case 'checkpoint':
        break;
      case 'eval': {
        const d = e.data;
        // The evaluator scores versions in order; a late older one is not "latest".
        if (this.latestEval === null || d.version >= this.latestEval.version) {
          this.latestEval = {
            version: d.version,
            epoch: d.epoch,
            globalStep: d.globalStep,
            epochEnd: d.epochEnd,
            accuracy: d.accuracy,
            loss: d.loss,
          };
        }
        if (d.best) {
          const path = this.best?.version === d.version ? this.best.path : null;
          this.best = { version: d.version, epoch: d.epoch, accuracy: d.accuracy, path };
        }
        break;
      }
      case 'best':
        // Authoritative: the evaluator wrote these files.
        this.best = { version: e.data.version, epoch: e.data.epoch, accuracy: e.data.accuracy, path: e.data.path };
        break;
      case 'run.write_failed': {
        const d = e.data;
        const count = (this.writeFailed?.count ?? 0) + 1;
        this.writeFailed = { count, what: d.what, path: d.path, code: d.code, consecutive: d.consecutive, source: e.source };
        break;
      }
      case 'run.finished':
        this.finished = { status: e.data.status, reason: e.data.reason, version: e.data.version, epochs: e.data.epochs };
        break;
      default:
        // An event type newer than this watcher: nothing to show.
        break;
    }
  }

  snapshot(nowMs: number): WatchSnapshot {
    const last = this.lastRound;
    const totalSteps = this.config?.totalSteps ?? null;
    const rate = recentRate(this.rounds);
    let etaMs: number | null = null;
    if (this.finished !== null) etaMs = this.finished.status === 'finished' ? 0 : null;
    else if (rate !== null && last !== null && totalSteps !== null) etaMs = Math.max(0, totalSteps - last.globalStep) * rate.msPerStep;

    const members = [...this.workers.values()]
      .sort((a, b) => a.worker.localeCompare(b.worker, 'en', { numeric: true }))
      .map(
        (w): WorkerSnapshot => ({
          ...w,
          sinceSeenMs: w.lastSeenMs === null ? null : Math.max(0, nowMs - w.lastSeenMs),
          straggledRounds: this.rounds.filter((r) => r.straggler === w.worker).length,
        }),
      );

    return {
      run: this.run,
      config: this.config,
      members,
      activeMembers: members.filter((m) => m.status === 'active').length,
      epoch: last?.epoch ?? this.progressEpoch,
      epochProgress:
        last === null
          ? null
          : {
              done: last.epochSamplesDone,
              total: last.epochSamples,
              fraction: last.epochSamples > 0 ? Math.min(1, last.epochSamplesDone / last.epochSamples) : 0,
            },
      round: last?.round ?? null,
      globalStep: last?.globalStep ?? null,
      totalSteps,
      lr: last?.lr ?? null,
      roundMs: last?.roundMs ?? null,
      roundMsMean: this.rounds.length > 0 ? sum(this.rounds, (r) => r.roundMs) / this.rounds.length : null,
      imagesPerSecond: rate?.imagesPerSecond ?? null,
      msPerStep: rate?.msPerStep ?? null,
      etaMs,
      windowRounds: this.rounds.length,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      lastEpoch: this.lastEpoch,
      latestEval: this.latestEval,
      best: this.best,
      straggler: namedStraggler(this.rounds, this.workers),
      finished: this.finished,
      writeFailed: this.writeFailed,
      events: this.events,
      lastEventMs: this.lastEventMs,
      sinceEventMs: this.lastEventMs === null ? null : Math.max(0, nowMs - this.lastEventMs),
    };
  }

  private worker(id: string): WorkerState {
    let w = this.workers.get(id);
    if (w === undefined) {
      // Following from 'new' we may see progress before (or without) its join.
      w = {
        worker: id,
        name: id,
        status: 'active',
        leftReason: null,
        round: null,
        epoch: null,
        epochSamples: 0,
        loss: null,
        lossEma: null,
        imagesPerSecond: null,
        imagesPerSecondEma: null,
        lastSeenMs: null,
      };
      this.workers.set(id, w);
    }
    return w;
  }

  private markLeft(w: WorkerState, reason: string): void {
    w.status = 'left';
    w.leftReason = reason;
  }
}

/**
 * The straggler is named only when one worker keeps the others waiting:
 * among the last `stragglerWindowRounds` rounds (at least
 * `stragglerMinRounds` of them seen), it arrived last in >= 60% of them, AND
 * the mean gap it caused in those rounds (round.straggleMs) is significant:
 * >= 20% of the mean round time of the window and >= 50 ms. Alternating
 * last arrivals are noise, and a consistent but tiny gap costs nothing. A
 * worker that has left keeps nobody waiting. Rounds without a straggler
 * (a lone member) count in the window, so they dilute the share.
 */
function namedStraggler(
  rounds: readonly RoundEntry[],
  workers: ReadonlyMap<string, { name: string; status: 'active' | 'left' }>,
): StragglerView | null {
  const window = rounds.slice(-WATCH_RULES.stragglerWindowRounds);
  if (window.length < WATCH_RULES.stragglerMinRounds) return null;
  const byWorker = new Map<string, { rounds: number; straggleMs: number }>();
  for (const r of window) {
    if (r.straggler === null) continue;
    const t = byWorker.get(r.straggler) ?? { rounds: 0, straggleMs: 0 };
    t.rounds++;
    t.straggleMs += r.straggleMs;
    byWorker.set(r.straggler, t);
  }
  let top: [string, { rounds: number; straggleMs: number }] | null = null;
  for (const entry of byWorker) if (top === null || entry[1].rounds > top[1].rounds) top = entry;
  if (top === null) return null;
  const [worker, t] = top;
  if (t.rounds / window.length < WATCH_RULES.stragglerMinShare) return null;
  const meanStraggleMs = t.straggleMs / t.rounds;
  const meanRoundMs = sum(window, (r) => r.roundMs) / window.length;
  if (meanStraggleMs < WATCH_RULES.stragglerMinMs || meanStraggleMs < WATCH_RULES.stragglerMinRoundFraction * meanRoundMs) return null;
  const w = workers.get(worker);
  if (w?.status === 'left') return null;
  return { worker, name: w?.name ?? worker, rounds: t.rounds, windowRounds: window.length, meanStraggleMs, meanRoundMs };
}

/**
 * Rates over the recent rounds by the publisher's clock between the first and
 * last round event: this counts everything a step really costs (exchange,
 * epoch-end checkpoints), not just `roundMs`. Null before two rounds.
 */
function recentRate(rounds: readonly RoundEntry[]): { msPerStep: number; imagesPerSecond: number } | null {
  const first = rounds[0];
  const last = rounds[rounds.length - 1];
  if (first === undefined || last === undefined || first === last) return null;
  const elapsedMs = last.timeMs - first.timeMs;
  const steps = last.globalStep - first.globalStep;
  if (!(elapsedMs > 0) || steps <= 0) return null;
  // The first round's samples were done before the window's start time.
  const samples = sum(rounds.slice(1), (r) => r.samples);
  return { msPerStep: elapsedMs / steps, imagesPerSecond: (samples * 1000) / elapsedMs };
}

function ema(prev: number | null, x: number): number {
  return prev === null ? x : prev + WATCH_RULES.emaAlpha * (x - prev);
}

function finiteOr(x: number, fallback: number | null): number | null {
  return Number.isFinite(x) ? x : fallback;
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  let s = 0;
  for (const x of xs) s += f(x);
  return s;
}
