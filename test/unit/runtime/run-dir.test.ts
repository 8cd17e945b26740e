import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRunDir } from '../../../src/runtime/run-dir.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-rundir-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = async (path: string) => (await readFile(join(path, 'metrics.jsonl'), 'utf8')).split('\n');

describe('run directory', () => {
  it('putMetricsLine keeps one line per epoch in epoch order: an epoch written again replaces its line', async () => {
    const run = await openRunDir(join(dir, 'put'));
    for (const epoch of [2, 1, 3]) await run.putMetricsLine({ epoch, testAccuracy: epoch / 10 });
    await run.putMetricsLine({ epoch: 2, testAccuracy: 0.25 });
    expect(await lines(run.path)).toEqual([
      '{"epoch":1,"testAccuracy":0.1}',
      '{"epoch":2,"testAccuracy":0.25}',
      '{"epoch":3,"testAccuracy":0.3}',
      '',
    ]);
    // Replaced atomically: no temp file is left beside it.
    expect((await readdir(run.path)).sort()).toEqual(['metrics.jsonl']);
  });

  it('keepMetricsBefore drops the lines of the epoch a resumed run trains again (and torn lines), keeps the others', async () => {
    const run = await openRunDir(join(dir, 'a'));
    for (const epoch of [1, 2, 3]) await run.putMetricsLine({ epoch, testAccuracy: epoch / 10 });
    await writeFile(join(run.path, 'metrics.jsonl'), `${await readFile(join(run.path, 'metrics.jsonl'), 'utf8')}{"epoch":4,"te`);
    await run.keepMetricsBefore(3);
    expect(await lines(run.path)).toEqual(['{"epoch":1,"testAccuracy":0.1}', '{"epoch":2,"testAccuracy":0.2}', '']);
  });

  it('keepMetricsBefore without a metrics file does nothing', async () => {
    const run = await openRunDir(join(dir, 'b'));
    await run.keepMetricsBefore(1);
    await expect(readFile(join(run.path, 'metrics.jsonl'))).rejects.toThrow(/ENOENT/);
  });
});
