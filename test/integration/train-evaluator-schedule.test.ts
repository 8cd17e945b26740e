import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { loadOnednn } from '../../src/compute/onednn/addon.js';
import { allowedCpus } from '../../src/runtime/allowed-cpus.js';
import { availableParallelism } from 'node:os';
import { logLines, runFleet } from '../helpers/run-fleet.js';

/**
 * The evaluator of `fleet train --workers 2` must not slow the run: it
 * scores epoch ends only (periodic checkpoints are written and left), runs
 * at a lower OS priority when the workers' threads take every CPU (they do
 * by default), and the run says how long after the end of training its
 * final score came; with oneDNN it scores that last epoch end with every
 * CPU (the workers are done), the others with one thread. Real processes,
 * the launcher's own nats-server.
 */
const backend = loadOnednn() ? 'onednn' : 'wasm';
let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-eval-schedule-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 60, pattern: 'learnable', seed: 4 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const jsonLines = async (file: string) => logLines(await readFile(file, 'utf8'));

describe.skipIf(!natsServerAvailable())('fleet train --workers 2: the evaluator beside the workers', () => {
  it('scores epoch ends only, at niceness 10, and the run summary gives the end of training to the final score', async () => {
    const out = join(root, 'run');
    const result = await runFleet(
      [
        'train',
        '--workers',
        '2',
        '--model',
        'tiny',
        '--epochs',
        '2',
        '--batch-size',
        '16',
        '--lr',
        '0.02',
        '--warmup-epochs',
        '0',
        '--data-dir',
        dataDir,
        '--allow-partial',
        '--backend',
        backend,
        '--checkpoint-every',
        '2',
        '--progress',
        'log',
        '--out',
        out,
      ],
      { timeoutMs: 240_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const launcher = logLines(result.stdout);
    expect(launcher.filter((l) => l.msg === "evaluator at a lower priority: it shares the workers' CPUs")).toEqual([
      expect.objectContaining({ nice: 10 }),
    ]);

    const evaluator = await jsonLines(join(out, 'logs', 'evaluator.log'));
    expect(evaluator.find((l) => l.msg === 'evaluator ready')).toMatchObject({ nice: 10, scoreCheckpoints: 'epoch-ends' });
    const coordinator = await jsonLines(join(out, 'logs', 'coordinator.log'));
    const written = coordinator.filter((l) => l.msg === 'checkpoint written');
    const epochEnds = written.filter((l) => l.reason === 'epoch end').map((l) => l.version);
    // 8 rounds an epoch, a checkpoint every 2: periodic ones besides the two epoch ends.
    expect(written.length).toBeGreaterThan(epochEnds.length);
    expect(epochEnds).toHaveLength(2);
    // Only epoch ends are fetched: scored, or (an evaluator that started late, on a loaded machine) no longer kept.
    const scored = evaluator.filter((l) => l.msg === 'checkpoint evaluated').map((l) => l.version);
    const skipped = evaluator.filter((l) => String(l.msg).startsWith('checkpoint version can no longer be fetched')).map((l) => l.version);
    expect([...skipped, ...scored].sort((a, b) => Number(a) - Number(b))).toEqual(epochEnds);
    expect(scored.at(-1)).toBe(epochEnds.at(-1));
    if (backend === 'onednn') {
      const threads = evaluator.filter((l) => l.msg === 'checkpoint evaluated').map((l) => [l.version, l.threads]);
      const cpus = allowedCpus()?.length ?? availableParallelism();
      expect(threads.at(-1)).toEqual([epochEnds.at(-1), Math.max(1, cpus)]);
      for (const [, t] of threads.slice(0, -1)) expect(t).toBe(1);
    }

    // The end of training to the final score: the coordinator's wait, and the launcher's summary.
    const waited = coordinator.find((l) => l.msg === 'the evaluator scored the last checkpoint');
    expect(waited).toMatchObject({ version: epochEnds.at(-1), afterTrainingMs: expect.any(Number) });
    const [finished] = launcher.filter((l) => l.msg === 'run finished' && l.event === 'run.finished');
    expect(finished).toMatchObject({ status: 'finished', finalScoreSeconds: expect.any(Number) });
    expect(finished!.finalScoreSeconds as number).toBeGreaterThanOrEqual(0);
    expect(finished!.finalScoreSeconds as number).toBeLessThanOrEqual(finished!.wallSeconds as number);
  }, 300_000);
});
