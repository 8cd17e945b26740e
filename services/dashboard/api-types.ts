/**
 * The JSON the dashboard's server answers and its page reads (types only: the
 * page imports them at build time, nothing of the server's code). Every
 * string in here may come from an event or a run directory, that is from a
 * user: the page puts them into the document as text, never as markup.
 */

export type RunStatus = 'running' | 'finished' | 'failed' | 'stopped' | 'incomplete' | 'unreadable';
export type TrialStatus = 'pending' | 'running' | 'finished' | 'pruned' | 'failed';

/** Where a run's view comes from: its events on NATS, or its run directory's files. */
export type BoardSource = 'events' | 'directory';

/** A row of the runs list. */
export interface RunSummary {
  id: string;
  source: BoardSource;
  model: string | null;
  workers: number | null;
  status: RunStatus;
  /** Best test accuracy so far, a fraction. */
  bestAccuracy: number | null;
  /** ISO-8601: the run.started event's time, or when config.json was written. */
  started: string | null;
  epochsDone: number;
  epochs: number | null;
}

export interface SweepSummary {
  id: string;
  source: BoardSource;
  name: string | null;
  metric: string | null;
  status: 'running' | 'finished' | 'failed';
  trials: number;
  best: { trial: string; value: number } | null;
  started: string | null;
}

export interface BoardList {
  /** What the server reads: NATS (with the URL) and/or a folder of runs. */
  sources: { nats: string | null; runs: string | null };
  runs: RunSummary[];
  sweeps: SweepSummary[];
}

/** One epoch's point on the curves; test values null until the epoch's end is scored. */
export interface EpochPoint {
  epoch: number;
  trainLoss: number | null;
  trainAccuracy: number | null;
  testLoss: number | null;
  testAccuracy: number | null;
}

/**
 * A worker's mean round over its recent rounds, in ms: the parameters' download, its own training, the
 * upload, waiting for the rest of the round. Download and upload are null for events from before workers
 * timed them: then only the exchange (from the round's start to its arrival, less the training) is known.
 */
export interface RoundSplit {
  rounds: number;
  downloadMs: number | null;
  trainMs: number;
  uploadMs: number | null;
  /** download + upload, or the older events' estimate. */
  exchangeMs: number;
  waitMs: number;
  roundMs: number;
}

export interface WorkerRow {
  id: string;
  name: string;
  status: 'active' | 'left';
  leftReason: string | null;
  imagesPerSecond: number | null;
  loss: number | null;
  round: number | null;
  split: RoundSplit | null;
  /** Rounds of the recent window in which it arrived last. */
  straggledRounds: number;
  /** The straggler by fleet watch's rule (it keeps the others waiting). */
  straggler: boolean;
}

export interface EvaluationRow {
  /** The parameter version scored (null for a one-process run read from its directory). */
  version: number | null;
  epoch: number;
  epochEnd: boolean;
  accuracy: number;
  loss: number;
  best: boolean;
}

export interface RunDetail {
  summary: RunSummary;
  /** Where the run's files are (a directory source), else null. */
  dir: string | null;
  curves: EpochPoint[];
  /** The learning rate by global step (per round from events, per epoch end from a directory). */
  lr: { step: number; lr: number }[];
  workers: WorkerRow[];
  /** Window of the straggler rule (rounds). */
  windowRounds: number;
  evaluations: EvaluationRow[];
  best: { version: number | null; epoch: number; accuracy: number; path: string | null } | null;
  confusion: { epoch: number; version: number | null; matrix: number[][]; perClassAccuracy: (number | null)[] } | null;
  classNames: string[];
  progress: {
    epoch: number | null;
    /** Of the current epoch, in [0, 1]. */
    epochFraction: number | null;
    globalStep: number | null;
    totalSteps: number | null;
    imagesPerSecond: number | null;
    etaMs: number | null;
  };
  finished: { status: 'finished' | 'failed' | 'stopped'; reason: string | null } | null;
}

export interface TrialDetail {
  trial: string;
  params: Record<string, string | number | boolean>;
  status: TrialStatus;
  epoch: number | null;
  best: number | null;
  pruned: { epoch: number; rule: string; reason: string } | null;
  reason: string | null;
  /** The metric per epoch. */
  curve: { epoch: number; value: number }[];
}

export interface SweepDetail {
  summary: SweepSummary;
  pruning: string | null;
  trials: TrialDetail[];
}

/** What the server pushes on /api/stream: which runs and sweeps changed, so the page fetches again what it shows. */
export interface ChangeNotice {
  runs: string[];
  sweeps: string[];
}
