import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bestOf } from '../../../services/sweep/trial-curve.js';
import { isTrialProcess, readTrialPid, removeTrialPid, stopOrphan, writeTrialPid } from '../../../services/sweep/trial-pids.js';
import { lastErrorLine } from '../../../services/sweep/trial-process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-trial-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trial pid files', () => {
  it('round-trip, and read as null when absent or not a pid file', async () => {
    const file = join(dir, 't000.pid');
    expect(await readTrialPid(file)).toBeNull();
    await writeTrialPid(file, { pid: 4242, runId: 's-t000' });
    expect(await readTrialPid(file)).toEqual({ pid: 4242, runId: 's-t000' });
    await writeFile(file, '{"pid": "x"}');
    expect(await readTrialPid(file)).toBeNull();
    await removeTrialPid(file);
    await removeTrialPid(file);
    expect(await readTrialPid(file)).toBeNull();
  });

  it("name a trial only when the process's command line holds its run id (a reused pid is not the trial)", async () => {
    // This process's own command line stands in for a trial's.
    const arg = (await readFile('/proc/self/cmdline', 'utf8'))
      .split('\0')
      .filter((a) => a !== '')
      .at(-1)!;
    expect(await isTrialProcess(process.pid, arg)).toBe(true);
    expect(await isTrialProcess(process.pid, 'sweep-x-t000')).toBe(false);
    expect(await isTrialProcess(2 ** 22 + 17, arg)).toBe(false);
    // Nothing of that trial alive: nothing is signalled.
    expect(await stopOrphan({ pid: process.pid, runId: 'sweep-x-t000', graceMs: 10 })).toBe(false);
  });
});

describe('lastErrorLine', () => {
  it("prefers the CLI's fleet: line, else the last error record (with its error's message), else the last text", async () => {
    const log = join(dir, 'a.log');
    const record = (level: number, msg: string, err?: string) => JSON.stringify({ level, msg, ...(err ? { err: { message: err } } : {}) });
    await writeFile(
      log,
      [record(30, 'epoch done'), record(50, 'training failed', 'loss is NaN'), 'fleet: training diverged at epoch 1', ''].join('\n'),
    );
    expect(await lastErrorLine(log)).toBe('training diverged at epoch 1');
    await writeFile(log, [record(50, 'training failed', 'loss is NaN'), record(30, 'bye')].join('\n'));
    expect(await lastErrorLine(log)).toBe('training failed: loss is NaN');
    await writeFile(log, [record(30, 'epoch done'), 'Segmentation fault'].join('\n'));
    expect(await lastErrorLine(log)).toBe('Segmentation fault');
    expect(await lastErrorLine(join(dir, 'missing.log'))).toBeNull();
  });
});

describe('bestOf', () => {
  it('is the highest point, the earliest of equal ones', () => {
    expect(bestOf([])).toBeNull();
    expect(
      bestOf([
        { epoch: 1, value: 0.2 },
        { epoch: 2, value: 0.5 },
        { epoch: 3, value: 0.5 },
      ]),
    ).toEqual({ epoch: 2, value: 0.5 });
  });
});
