import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SweepState } from '../../../services/sweep/sweep-state.js';
import { readSweepRecord, type SweepRecord } from '../../../src/training/run-record/sweep-record.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-sweep-state-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(): SweepRecord {
  return {
    format: 1,
    sweepId: 's-1',
    name: 's',
    description: null,
    specFile: 's.yaml',
    scale: null,
    metric: 'testAccuracy',
    startedAt: '2026-12-06T00:00:00.000Z',
    finishedAt: null,
    status: 'running',
    varied: ['lr'],
    pruning: { rule: 'none', gracePeriod: 1, reductionFactor: 3 },
    trials: ['t000', 't001'].map((id, i) => ({
      id,
      params: { lr: 0.1 * (i + 1) },
      seed: 1,
      repeat: 0,
      configKey: `{"lr":${0.1 * (i + 1)}}`,
      status: 'pending' as const,
      runDir: `trials/${id}`,
      epochsRun: 0,
      best: null,
      curve: [],
      prunedAt: null,
      error: null,
      startedAt: null,
      endedAt: null,
    })),
  };
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
