import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Board } from '../../../services/dashboard/board.js';
import { writeSweepRecord } from '../../../src/training/run-record/sweep-record.js';
import { metricsLineSchema } from '../../../src/training/run-record/index.js';
import { pendingTrialFixture, sweepRecordFixture, trialFixture } from '../../fixtures/sweep-records.js';

/** The dashboard without NATS: runs and sweeps read from a folder, and which of them changed when it is read again. */

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-dashboard-dirs-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function line(epoch: number, testAccuracy: number): string {
  const confusion = Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 10 : 0)));
  return JSON.stringify(
    metricsLineSchema.parse({
      epoch,
      step: epoch * 5,
      lr: 0.01,
      trainLoss: 1,
      trainAccuracy: 0.5,
      trainSamples: 320,
      epochSeconds: 2,
      imagesPerSecond: 160,
      testLoss: 1.2,
      testAccuracy,
      perClassAccuracy: Array(10).fill(testAccuracy),
      confusion,
      time: new Date(Date.UTC(2026, 11, 1, 12, epoch)).toISOString(),
    }),
  );
}

describe('Board from a folder of run and sweep directories', () => {
  it("lists runs and sweeps, draws a run from its metrics lines and a sweep's trials from sweep.json, and names what changed", async () => {
    await mkdir(join(root, 'r1'));
    await writeFile(join(root, 'r1', 'metrics.jsonl'), `${line(1, 0.3)}\n${line(2, 0.45)}\n`);
    const sweepDir = join(root, 'sweeps', 'sw1');
    await mkdir(sweepDir, { recursive: true });
    const record = sweepRecordFixture({
      varied: ['augment'],
      pruning: { rule: 'asha', gracePeriod: 1, reductionFactor: 3 },
      trials: [
        trialFixture('t000', { augment: 'none' }, [
          { epoch: 1, value: 0.3 },
          { epoch: 2, value: 0.4 },
        ]),
        pendingTrialFixture('t001', { augment: 'full' }),
      ],
    });
    await writeSweepRecord(sweepDir, record);

    const board = new Board({ nats: null, runs: root });
    const changes: { runs: string[]; sweeps: string[] }[] = [];
    board.onChange((c) => changes.push(c));
    await board.rescan();
    const list = board.list();
    expect(list.runs.map((r) => [r.id, r.status, r.bestAccuracy, r.source])).toEqual([['r1', 'incomplete', 0.45, 'directory']]);
    expect(list.sweeps.map((s) => [s.id, s.trials, s.best])).toEqual([[record.sweepId, 2, { trial: 't000', value: 0.4 }]]);
    expect(changes).toEqual([{ runs: ['r1'], sweeps: [record.sweepId] }]);

    const run = (await board.run('r1'))!;
    expect(run.curves.map((c) => [c.epoch, c.testAccuracy])).toEqual([
      [1, 0.3],
      [2, 0.45],
    ]);
    expect(run.lr).toEqual([
      { step: 5, lr: 0.01 },
      { step: 10, lr: 0.01 },
    ]);
    expect(run.best).toMatchObject({ epoch: 2, accuracy: 0.45 });
    expect(run.confusion?.epoch).toBe(2);
    expect(run.classNames[0]).toBe('airplane');
    expect(run.workers).toEqual([]);

    const sweep = (await board.sweep(record.sweepId))!;
    expect(sweep.trials.map((t) => [t.trial, t.status, t.curve.length])).toEqual([
      ['t000', record.trials[0]!.status, 2],
      ['t001', 'pending', 0],
    ]);

    // Read again: nothing changed, then one more epoch of r1.
    await board.rescan();
    expect(changes).toHaveLength(1);
    await writeFile(join(root, 'r1', 'metrics.jsonl'), `${line(1, 0.3)}\n${line(2, 0.45)}\n${line(3, 0.5)}\n`);
    await board.rescan();
    expect(changes.at(-1)).toEqual({ runs: ['r1'], sweeps: [] });
    expect((await board.run('r1'))!.curves).toHaveLength(3);
    expect(await board.run('nosuch')).toBeNull();
  });
});
