import type { EventPayloads } from '../../src/events/event-payloads.js';
import type { RoundSplit } from './api-types.js';

/**
 * Each worker's recent rounds split into download, training, upload and
 * waiting, from its `worker.progress` events and the `round` events that
 * close them (pure). The worker times its own download and upload; a
 * round's upload is known only once its contribution is accepted, so it
 * comes with the worker's next contribution (`uploadMs` for `uploadRound`)
 * and is put back in the round it belongs to. Events from before the
 * worker timed them give the older split: the exchange (arrival minus
 * training) and waiting.
 */

type Progress = EventPayloads['worker.progress'];

/** One closed round of one worker. */
interface WorkerRound {
  round: number;
  trainMs: number;
  arrivedMs: number;
  roundMs: number;
  downloadMs: number | null;
  uploadMs: number | null;
}

export class RoundSplits {
  /** Progress of rounds not yet closed: round -> worker -> its progress. */
  private readonly pending = new Map<number, Map<string, Progress>>();
  private readonly recent = new Map<string, WorkerRound[]>();

  /** @param windowRounds rounds a worker's split is averaged over */
  constructor(private readonly windowRounds: number) {}

  /** A new start (or resume): rounds in flight are gone. */
  restarted(): void {
    this.pending.clear();
  }

  progress(d: Progress): void {
    let round = this.pending.get(d.round);
    if (round === undefined) {
      round = new Map();
      this.pending.set(d.round, round);
    }
    round.set(d.worker, d);
    // The upload of the worker's previous contribution, whose round has closed.
    if (d.uploadMs !== undefined && d.uploadRound !== undefined) {
      const earlier = this.recent.get(d.worker)?.find((r) => r.round === d.uploadRound);
      if (earlier) earlier.uploadMs = d.uploadMs;
    }
  }

  closed(round: number, roundMs: number): void {
    for (const [worker, p] of this.pending.get(round) ?? []) {
      const list = this.recent.get(worker) ?? [];
      list.push({ round, trainMs: p.trainMs, arrivedMs: p.arrivedMs, roundMs, downloadMs: p.downloadMs ?? null, uploadMs: null });
      if (list.length > this.windowRounds) list.shift();
      this.recent.set(worker, list);
    }
    // Progress of this round and any older one left unclosed (a worker evicted mid-round).
    for (const r of this.pending.keys()) if (r <= round) this.pending.delete(r);
  }

  /** The worker's mean round over its recent ones; null before its first closed round. */
  mean(worker: string): RoundSplit | null {
    const list = this.recent.get(worker) ?? [];
    if (list.length === 0) return null;
    const trainMs = meanOf(list.map((r) => r.trainMs))!;
    const roundMs = meanOf(list.map((r) => r.roundMs))!;
    // Each over the rounds that have it: the newest round's upload is not known yet.
    const downloadMs = meanOf(list.flatMap((r) => (r.downloadMs === null ? [] : [r.downloadMs])));
    const uploadMs = meanOf(list.flatMap((r) => (r.uploadMs === null ? [] : [r.uploadMs])));
    if (downloadMs !== null && uploadMs !== null) {
      return {
        rounds: list.length,
        downloadMs,
        trainMs,
        uploadMs,
        exchangeMs: downloadMs + uploadMs,
        // The rest of the round: the assignment's way to the worker, the others, the coordinator's update.
        waitMs: Math.max(0, roundMs - downloadMs - trainMs - uploadMs),
        roundMs,
      };
    }
    return {
      rounds: list.length,
      downloadMs: null,
      trainMs,
      uploadMs: null,
      // arrivedMs counts from the round's start: the download, the training and the upload.
      exchangeMs: meanOf(list.map((r) => Math.max(0, r.arrivedMs - r.trainMs)))!,
      waitMs: meanOf(list.map((r) => Math.max(0, r.roundMs - r.arrivedMs)))!,
      roundMs,
    };
  }
}

function meanOf(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}
