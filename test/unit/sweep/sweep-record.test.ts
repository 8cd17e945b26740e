import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSweepRecord, SWEEP_JSON, type SweepRecord, writeSweepRecord } from '../../../src/training/run-record/sweep-record.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-sweep-record-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sampleSweepRecord(): SweepRecord {
  return {
    format: 1,
    sweepId: 'aug-20250101-120000-abcd',
    name: 'aug',
    description: null,
    specFile: 'examples/2-augmentation.yaml',
    scale: 'quick',
    metric: 'testAccuracy',
    startedAt: '2025-01-01T12:00:00.000Z',
    finishedAt: null,
    status: 'running',
    varied: ['augment'],
    pruning: { rule: 'asha', gracePeriod: 1, reductionFactor: 3 },
    trials: [
      {
        id: 't000',
        params: { augment: 'none' },
        seed: 1,
        repeat: 0,
        configKey: '{"augment":"none"}',
        status: 'finished',
        runDir: 'trials/t000',
        epochsRun: 2,
        best: { epoch: 2, value: 0.4 },
        curve: [
          { epoch: 1, value: 0.3 },
          { epoch: 2, value: 0.4 },
        ],
        prunedAt: null,
        error: null,
        startedAt: '2025-01-01T12:00:01.000Z',
        endedAt: '2025-01-01T12:01:01.000Z',
      },
      {
        id: 't001',
        params: { augment: 'full' },
        seed: 1,
        repeat: 0,
        configKey: '{"augment":"full"}',
        status: 'pending',
        runDir: 'trials/t001',
        epochsRun: 0,
        best: null,
        curve: [],
        prunedAt: null,
        error: null,
        startedAt: null,
        endedAt: null,
      },
    ],
  };
}

describe('sweep record', () => {
  it('round-trips through sweep.json, leaving no temp file', async () => {
    const record = sampleSweepRecord();
    await writeSweepRecord(dir, record);
    expect(await readSweepRecord(dir)).toEqual(record);
    expect(await readdir(dir)).toEqual([SWEEP_JSON]);
  });

  it('refuses to write a record that breaks the schema, keeping the old file', async () => {
    const good = sampleSweepRecord();
    await writeSweepRecord(dir, good);
    const bad = { ...good, trials: [{ ...good.trials[0]!, status: 'done' }] } as unknown as SweepRecord;
    await expect(writeSweepRecord(dir, bad)).rejects.toThrow(/sweep\.json: trials\.0\.status/);
    expect(JSON.parse(await readFile(join(dir, SWEEP_JSON), 'utf8'))).toEqual(good);
  });

  it('names the file when it is missing, not JSON or invalid', async () => {
    const empty = await mkdtemp(join(dir, 'empty-'));
    await expect(readSweepRecord(empty)).rejects.toThrow(`${join(empty, SWEEP_JSON)}: not found`);
    await writeFile(join(empty, SWEEP_JSON), '{"format":');
    await expect(readSweepRecord(empty)).rejects.toThrow(/sweep\.json: not JSON/);
    await writeFile(join(empty, SWEEP_JSON), JSON.stringify({ ...sampleSweepRecord(), format: 2 }));
    await expect(readSweepRecord(empty)).rejects.toThrow(/sweep\.json: format: /);
  });
});
