import { describe, expect, it } from 'vitest';
import { parseChildLine, readableLine } from '../../../services/launcher/child-log-line.js';
import { ClusterProgress, type ClusterEvent } from '../../../services/launcher/cluster-progress.js';
import { ChildLogs } from '../../../services/launcher/child-logs.js';
import { summarizeRun, summaryLines } from '../../../services/launcher/run-summary.js';

const line = (process: string, record: Record<string, unknown>) =>
  parseChildLine(process, 'stdout', JSON.stringify({ level: 30, ...record }));

const closed = (round: number, epoch: number, done: number, epochDone = false) =>
  line('coordinator', {
    msg: 'round closed',
    round,
    epoch,
    version: round + 2,
    samples: 64,
    loss: 1.5,
    lr: 0.1,
    roundMs: 100,
    epochImagesDone: done,
    epochImages: 128,
    epochLoss: 1.4,
    epochAccuracy: 0.5,
    epochDone,
  });

const contributed = (worker: string, round: number, epoch: number) =>
  line(worker, {
    msg: 'round contributed',
    worker: `id-${worker}`,
    round,
    epoch,
    samples: 32,
    loss: 1.25,
    imagesPerSecond: 800,
    trainMs: 40,
  });

const types = (events: ClusterEvent[]) => events.map((e) => e.type);

describe('ClusterProgress: the local cluster folded from its log lines', () => {
  it("an epoch's end waits for every worker's last contribution line, then tells their shares", () => {
    const p = new ClusterProgress(['worker-0', 'worker-1']);
    expect(types(p.take(contributed('worker-0', 0, 1)))).toEqual(['epoch.started', 'worker']);
    p.take(contributed('worker-1', 0, 1));
    const first = p.take(closed(0, 1, 64));
    expect(first).toContainEqual({
      type: 'progress',
      epoch: expect.objectContaining({ epoch: 1, imagesDone: 64, images: 128, loss: 1.4, lr: 0.1 }),
    });
    p.take(contributed('worker-0', 1, 1));
    // The round closes before worker-1's line of it arrives: the epoch's end is told with that line.
    expect(types(p.take(closed(1, 1, 128, true)))).toEqual(['progress']);
    const end = p.take(contributed('worker-1', 1, 1));
    const done = end.find((e) => e.type === 'epoch.done');
    expect(done).toMatchObject({
      trained: {
        epoch: 1,
        images: 128,
        seconds: 0.2,
        imagesPerSecond: 640,
        workers: [
          { process: 'worker-0', images: 64, rounds: 2, loss: 1.25, imagesPerSecond: 800 },
          { process: 'worker-1', images: 64, rounds: 2, loss: 1.25, imagesPerSecond: 800 },
        ],
      },
    });
    expect(p.epochsTrained).toBe(1);
  });

  it("a worker's line is missing (killed): the next epoch's first line tells the end", () => {
    const p = new ClusterProgress(['worker-0', 'worker-1']);
    p.take(contributed('worker-0', 0, 1));
    p.take(closed(0, 1, 128, true));
    expect(p.epochsTrained).toBe(0);
    expect(types(p.take(contributed('worker-0', 1, 2)))).toEqual(['epoch.done', 'epoch.started', 'worker']);
    expect(p.trained[0]!.workers.map((w) => w.images)).toEqual([32, 0]);
  });

  it("the evaluator's score of an epoch-end version is the epoch's result; any score counts for the best", () => {
    const p = new ClusterProgress(['worker-0']);
    p.take(closed(0, 1, 64));
    const scored = (version: number, accuracy: number) =>
      p.take(
        line('evaluator', {
          msg: 'checkpoint evaluated',
          version,
          epoch: 1,
          accuracy,
          loss: 0.9,
          accuracyPercent: `${(accuracy * 100).toFixed(2)}%`,
          weakest: 'cat 10.00%',
          mostConfused: 'cat taken for dog (3 images)',
        }),
      );
    // Version 2: a checkpoint between epoch ends.
    expect(types(scored(2, 0.7))).toEqual(['evaluator']);
    expect(p.best).toEqual({ accuracy: 0.7, epoch: 1 });
    p.take(closed(1, 1, 128, true)); // version 3: the epoch's end
    expect(scored(3, 0.6)).toContainEqual({
      type: 'epoch.scored',
      score: expect.objectContaining({ epoch: 1, version: 3, accuracy: 0.6, loss: 0.9, accuracyPercent: '60.00%', weakest: 'cat 10.00%' }),
    });
    expect(p.best).toEqual({ accuracy: 0.7, epoch: 1 });
  });

  it("the coordinator scoring by itself: its 'epoch done' line is the epoch's result", () => {
    const p = new ClusterProgress(['worker-0']);
    const events = p.take(
      line('coordinator', { msg: 'epoch done', epoch: 1, version: 3, trainLoss: 1.1, testAccuracy: 0.55, accuracyPercent: '55.00%' }),
    );
    expect(events).toContainEqual({
      type: 'epoch.scored',
      score: expect.objectContaining({ epoch: 1, accuracy: 0.55, trainLoss: 1.1, loss: null }),
    });
  });

  it('errors: a line at level 50 or stderr text, each one readable line with its key fields', () => {
    const p = new ClusterProgress(['worker-0']);
    const err = parseChildLine(
      'coordinator',
      'stdout',
      JSON.stringify({
        level: 50,
        time: 1,
        pid: 2,
        service: 'coordinator',
        msg: 'round failed',
        round: 4,
        err: { type: 'Error', message: 'boom\n at x' },
      }),
    );
    expect(types(p.take(err))).toEqual(['error']);
    expect(readableLine(err)).toBe('coordinator: round failed (boom | at x, round=4)');
    const text = parseChildLine('worker-0', 'stderr', 'fleet: training diverged');
    expect(types(p.take(text))).toEqual(['error']);
    expect(readableLine(text)).toBe('worker-0: fleet: training diverged');
    // Other text on stdout (tfjs's greeting) is no error.
    expect(p.take(parseChildLine('worker-0', 'stdout', 'Hi there'))).toEqual([]);
  });

  it('exits: a worker that failed, one stopped by the launcher, the evaluator failing', () => {
    const p = new ClusterProgress(['worker-0', 'worker-1']);
    expect(p.exited('worker-0', 1, null, false)).toEqual([{ type: 'worker', worker: expect.objectContaining({ status: 'failed' }) }]);
    expect(p.exited('worker-1', null, 'SIGTERM', true)).toEqual([
      { type: 'worker', worker: expect.objectContaining({ status: 'stopped' }) },
    ]);
    expect(p.exited('evaluator', 1, null, false)).toEqual([{ type: 'evaluator', status: 'failed (code 1)' }]);
  });

  it('the end of training to the final score: from the last epoch end to its score, the evaluator’s or the coordinator’s own, in the run summary', () => {
    const at = (time: number, l: ReturnType<typeof line>) => ({ ...l, record: { ...l.record!, time } });
    const p = new ClusterProgress(['worker-0']);
    p.take(at(1_000, closed(1, 1, 128, true)));
    // A periodic checkpoint's score, then the first epoch end's, then the second (last) epoch's.
    p.take(at(2_000, line('evaluator', { msg: 'checkpoint evaluated', version: 2, epoch: 1, accuracy: 0.2, epochEnd: false })));
    p.take(at(4_500, line('evaluator', { msg: 'checkpoint evaluated', version: 3, epoch: 1, accuracy: 0.3, epochEnd: true })));
    expect(p.lastEpochEnd).toEqual({ epoch: 1, version: 3, closedAt: 1_000, scoredAfterMs: 3_500 });
    p.take(at(10_000, closed(3, 2, 128, true)));
    expect(p.lastEpochEnd).toMatchObject({ epoch: 2, version: 5, scoredAfterMs: null });
    const summaryOf = (progress: ClusterProgress) =>
      summarizeRun({ progress, epochs: 2, wallMs: 30_000, runDir: '/runs/x', logs: new ChildLogs('/runs/x'), failure: null });
    expect(summaryOf(p).finalScoreSeconds).toBeNull();
    p.take(at(22_340, line('evaluator', { msg: 'checkpoint evaluated', version: 5, epoch: 2, accuracy: 0.4, epochEnd: true })));
    const summary = summaryOf(p);
    expect(summary.finalScoreSeconds).toBe(12.3);
    expect(summaryLines(summary, [])).toContain('  final score: 12.3 s after the end of training');

    // Without an evaluator the coordinator scores the epoch end itself ('epoch done', after its scoring).
    const own = new ClusterProgress(['worker-0']);
    own.take(at(1_000, closed(1, 1, 128, true)));
    own.take(at(1_800, line('coordinator', { msg: 'epoch done', epoch: 1, version: 3, testAccuracy: 0.3, trainLoss: 2 })));
    expect(summaryOf(own).finalScoreSeconds).toBe(0.8);
  });
});
