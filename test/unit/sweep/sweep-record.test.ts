import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSweepRecord, SWEEP_JSON, type SweepRecord, writeSweepRecord } from '../../../src/training/run-record/sweep-record.js';
import { pendingTrialFixture, sweepRecordFixture, trialFixture } from '../../fixtures/sweep-records.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-sweep-record-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sampleSweepRecord(): SweepRecord {
  return sweepRecordFixture({
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
