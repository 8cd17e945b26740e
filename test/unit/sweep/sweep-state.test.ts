import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SweepState } from '../../../services/sweep/sweep-state.js';
import { readSweepRecord, type SweepRecord } from '../../../src/training/run-record/sweep-record.js';
import { pendingTrialFixture, sweepRecordFixture } from '../../fixtures/sweep-records.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-sweep-state-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(): SweepRecord {
  return sweepRecordFixture({
    varied: ['lr'],
    trials: [pendingTrialFixture('t000', { lr: 0.1 }), pendingTrialFixture('t001', { lr: 0.2 })],
  });
}

describe('SweepState', () => {
  it('saves every change; sweep.json holds the latest state once flushed', async () => {
    const state = new SweepState(dir, record());
    for (let epoch = 1; epoch <= 20; epoch++) {
      state.changeTrial('t001', (t) => {
        t.status = 'running';
        t.curve.push({ epoch, value: epoch / 100 });
        t.epochsRun = epoch;
      });
    }
    await state.flush();
    const onDisk = await readSweepRecord(dir);
    expect(onDisk).toEqual(state.record);
    expect(onDisk.trials[1]).toMatchObject({ status: 'running', epochsRun: 20 });
    expect(onDisk.trials[1]!.curve).toHaveLength(20);
  });

  it('reports a write it could not make (an invalid record) at flush', async () => {
    const state = new SweepState(dir, record());
    state.changeTrial('t000', (t) => {
      t.epochsRun = -1;
    });
    await expect(state.flush()).rejects.toThrow(/epochsRun/);
    expect(() => state.trial('t009')).toThrow(/no trial t009/);
  });
});
