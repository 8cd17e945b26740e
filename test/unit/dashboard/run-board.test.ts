import { describe, expect, it } from 'vitest';
import type { EventPayloads, EventType, FleetEvent } from '../../../src/events/index.js';
import { Board } from '../../../services/dashboard/board.js';
import { RunBoard } from '../../../services/dashboard/run-board.js';
import { samplePayloads } from '../../fixtures/event-samples.js';

/** The dashboard's folds of a run's events (pure): curves, the round split, the straggler, evaluations; runs apart from sweeps. */

const T0 = Date.UTC(2026, 11, 1, 12);
let seq = 0;
function ev<T extends EventType>(type: T, data: EventPayloads[T], run = 'r1', atMs = T0 + seq * 100): FleetEvent {
  seq++;
  return { type, run, source: 'coordinator:a', seq, time: new Date(atMs).toISOString(), data } as FleetEvent;
}

/** A round of two workers where w2 arrives `lateMs` after w1 and trains for `w2TrainMs`. */
function round(r: number, lateMs: number, w2TrainMs: number): FleetEvent[] {
  return [
    ev('worker.progress', { worker: 'w1', round: r, epoch: 1, samples: 32, loss: 1, trainMs: 50, imagesPerSecond: 640, arrivedMs: 80 }),
    ev('worker.progress', {
      worker: 'w2',
      round: r,
      epoch: 1,
      samples: 32,
      loss: 1,
      trainMs: w2TrainMs,
      imagesPerSecond: 300,
      arrivedMs: 80 + lateMs,
    }),
    ev('round', {
      ...samplePayloads.round,
      round: r,
      epoch: 1,
      globalStep: r,
      roundMs: 100 + lateMs,
      straggler: 'w2',
      straggleMs: lateMs,
      lr: 0.1 - r * 0.001,
    }),
  ];
}

describe('RunBoard', () => {
  it("splits each worker's round into training, exchange and waiting, and marks the straggler", () => {
    const b = new RunBoard('r1');
    b.apply(ev('run.started', { ...samplePayloads['run.started'], workers: 2, epochs: 2 }));
    b.apply(ev('worker.joined', { worker: 'w1', name: 'fast', members: 1 }));
    b.apply(ev('worker.joined', { worker: 'w2', name: 'slow', members: 2 }));
    for (let r = 1; r <= 10; r++) for (const e of round(r, 200, 230)) b.apply(e);
    const d = b.detail(T0 + 10_000, ['a', 'b']);
    const [fast, slow] = d.workers;
    // w1: trains 50 of its 80 ms to arrive, then waits for w2 (round 300 ms).
    // Events from before workers timed their transfers: the exchange as one.
    expect(fast!.split).toEqual({ rounds: 10, downloadMs: null, trainMs: 50, uploadMs: null, exchangeMs: 30, waitMs: 220, roundMs: 300 });
    expect(slow!.split).toEqual({ rounds: 10, downloadMs: null, trainMs: 230, uploadMs: null, exchangeMs: 50, waitMs: 20, roundMs: 300 });
    expect(d.workers.map((w) => [w.name, w.straggler, w.straggledRounds])).toEqual([
      ['fast', false, 0],
      ['slow', true, 10],
    ]);
    expect(d.lr).toHaveLength(10);
    expect(d.lr[0]).toEqual({ step: 1, lr: 0.099 });
    expect(d.classNames).toEqual(['a', 'b']);
  });

  it("splits each worker's round into download, training, upload and waiting, each upload put back in its own round", () => {
    const b = new RunBoard('r1');
    b.apply(ev('run.started', { ...samplePayloads['run.started'], workers: 2, epochs: 2 }));
    b.apply(ev('worker.joined', { worker: 'w1', name: 'fast', members: 1 }));
    b.apply(ev('worker.joined', { worker: 'w2', name: 'slow', members: 2 }));
    const progress = { epoch: 1, samples: 32, loss: 1, imagesPerSecond: 300 };
    for (let r = 1; r <= 4; r++) {
      // Round r's upload is sent with the worker's next contribution: w1 uploads round k in 10 + k ms, w2 in 30 ms.
      const previous = (ms: number) => (r > 1 ? { uploadMs: ms, uploadRound: r - 1 } : {});
      b.apply(
        ev('worker.progress', { ...progress, worker: 'w1', round: r, trainMs: 50, arrivedMs: 80, downloadMs: 20, ...previous(10 + r - 1) }),
      );
      b.apply(
        ev('worker.progress', { ...progress, worker: 'w2', round: r, trainMs: 200, arrivedMs: 260, downloadMs: 4 * r, ...previous(30) }),
      );
      b.apply(ev('round', { ...samplePayloads.round, round: r, epoch: 1, globalStep: r, roundMs: 300, straggler: 'w2', straggleMs: 180 }));
    }
    const [fast, slow] = b.detail(T0, []).workers;
    // Downloads over the 4 rounds; uploads over the 3 whose upload is known (rounds 1-3: 11, 12, 13 ms).
    expect(fast!.split).toEqual({ rounds: 4, downloadMs: 20, trainMs: 50, uploadMs: 12, exchangeMs: 32, waitMs: 218, roundMs: 300 });
    expect(slow!.split).toEqual({ rounds: 4, downloadMs: 10, trainMs: 200, uploadMs: 30, exchangeMs: 40, waitMs: 60, roundMs: 300 });
    // An upload for a round the board never saw close changes nothing.
    b.apply(
      ev('worker.progress', {
        ...progress,
        worker: 'w1',
        round: 9,
        trainMs: 50,
        arrivedMs: 80,
        downloadMs: 20,
        uploadMs: 999,
        uploadRound: 7,
      }),
    );
    expect(b.detail(T0, []).workers[0]!.split?.uploadMs).toBe(12);
  });

  it('draws the epoch curves from epoch and epoch-end eval events; an evaluation scored again replaces its row; a redelivered event counts once', () => {
    const b = new RunBoard('r1');
    b.apply(ev('run.started', samplePayloads['run.started']));
    b.apply(ev('epoch', { epoch: 1, version: 5, globalStep: 5, trainLoss: 2, trainAccuracy: 0.3, samples: 320, epochMs: 1000 }));
    const confusion = Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 10 : 0)));
    const evalData = {
      version: 5,
      epoch: 1,
      globalStep: 5,
      epochEnd: true,
      accuracy: 0.4,
      loss: 1.8,
      samples: 100,
      perClassAccuracy: Array(10).fill(0.4),
      confusion,
      evalMs: 10,
      best: true,
    };
    const first = ev('eval', evalData);
    b.apply(first);
    b.apply(first);
    b.apply(ev('eval', { ...evalData, version: 3, epochEnd: false, accuracy: 0.2, best: false }));
    b.apply(ev('eval', evalData));
    b.apply(ev('best', { version: 5, epoch: 1, accuracy: 0.4, path: '/runs/r1/best' }));
    const d = b.detail(T0, []);
    expect(d.curves).toEqual([{ epoch: 1, trainLoss: 2, trainAccuracy: 0.3, testLoss: 1.8, testAccuracy: 0.4 }]);
    expect(d.evaluations.map((e) => [e.version, e.epochEnd])).toEqual([
      [3, false],
      [5, true],
    ]);
    expect(d.confusion?.version).toBe(5);
    expect(d.best).toEqual({ version: 5, epoch: 1, accuracy: 0.4, path: '/runs/r1/best' });
    expect(d.summary).toMatchObject({ id: 'r1', status: 'running', bestAccuracy: 0.4, epochsDone: 1 });
  });
});

describe('Board', () => {
  it("keeps a sweep's events apart from runs' and lists both", () => {
    const board = new Board({ nats: 'nats://x', runs: null }, () => T0);
    const changes: string[] = [];
    board.onChange((c) => changes.push(...c.runs.map((r) => `run:${r}`), ...c.sweeps.map((s) => `sweep:${s}`)));
    board.apply(ev('run.started', samplePayloads['run.started'], 'run-a'));
    board.apply(ev('sweep.started', samplePayloads['sweep.started'], 'sweep-a'));
    board.apply(ev('trial.epoch', { trial: 't000', epoch: 1, value: 0.5, best: 0.5 }, 'sweep-a'));
    const list = board.list();
    expect(list.runs.map((r) => r.id)).toEqual(['run-a']);
    expect(list.sweeps.map((s) => s.id)).toEqual(['sweep-a']);
    expect(changes).toEqual(['run:run-a', 'sweep:sweep-a', 'sweep:sweep-a']);
  });
});
