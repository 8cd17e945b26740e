import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { type FleetProcess, startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { until } from '../helpers/wait.js';

/**
 * The evaluator of `fleet train --workers N` dies (kill -9): the launcher
 * starts it again and the run ends with its final score, not after the
 * coordinator's --evaluator-wait (600 s, past the test's timeout). One
 * that keeps dying fails the run at once, naming the evaluator. Real
 * processes, the launcher's own nats-server.
 */
let root: string;
let dataDir: string;
const running: FleetProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-eval-restart-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 512, testCount: 60, pattern: 'learnable', seed: 5 });
});

afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function train(out: string, epochs: number): FleetProcess {
  const p = startFleet([
    'train',
    '--workers',
    '2',
    '--model',
    'tiny',
    '--epochs',
    String(epochs),
    '--batch-size',
    '8',
    '--lr',
    '0.02',
    '--warmup-epochs',
    '0',
    '--data-dir',
    dataDir,
    '--allow-partial',
    '--backend',
    'wasm',
    '--progress',
    'log',
    '--out',
    out,
  ]);
  running.push(p);
  return p;
}

/** The pid of this run's evaluator process (its command line names the run directory), or null. */
function evaluatorPid(out: string): number | null {
  try {
    const found = execFileSync('pgrep', ['-f', `fleet.js evaluator .*--out ${out}( |$)`], { encoding: 'utf8' })
      .trim()
      .split('\n')[0];
    return found ? Number(found) : null;
  } catch {
    return null; // pgrep exits 1 when nothing matches
  }
}

async function killEvaluator(out: string, notPid?: number): Promise<number> {
  let pid: number | null = null;
  await until(
    'the evaluator to be running',
    () => {
      pid = evaluatorPid(out);
      return pid !== null && pid !== notPid;
    },
    60_000,
    100,
  );
  process.kill(pid!, 'SIGKILL');
  return pid!;
}

const records = (p: FleetProcess) => p.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(!natsServerAvailable())('fleet train: an evaluator that dies', () => {
  it('is started again after kill -9, and the run ends with its final score', async () => {
    const out = join(root, 'killed-once');
    const run = train(out, 4);
    await run.waitFor(/"msg":"coordinator listening: starting workers"/, 60_000);
    await killEvaluator(out);
    const exit = await run.exited;
    const lines = records(run);
    expect(exit.code, run.lines.slice(-5).join('\n')).toBe(0);
    expect(lines.filter((l) => l.msg === 'the evaluator failed: restarting it')).toEqual([
      expect.objectContaining({ signal: 'SIGKILL', restart: 1, of: 3 }),
    ]);
    const finished = lines.find((l) => l.event === 'run.finished');
    // Scored by the restarted evaluator: a best accuracy, and the final score came after training.
    expect(finished).toMatchObject({ status: 'finished', bestEpoch: expect.any(Number), finalScoreSeconds: expect.any(Number) });
  }, 180_000);

  it('fails the run at once, naming the evaluator, when it keeps dying', async () => {
    const out = join(root, 'killed-always');
    const run = train(out, 400);
    await run.waitFor(/"msg":"coordinator listening: starting workers"/, 60_000);
    let pid: number | undefined;
    // The first run and its three restarts (1 + 2 + 4 s apart).
    for (let i = 0; i < 4; i++) pid = await killEvaluator(out, pid);
    const exit = await run.exited;
    expect(exit.code).toBe(1);
    const text = run.lines.join('\n');
    expect(text).toMatch(/the evaluator keeps failing: stopping the local cluster/);
    expect(text).toMatch(/evaluator exited with signal SIGKILL \(failed 4 times\)/);
    // Stopped at once: far from the 400 epochs asked for.
    const finished = records(run).find((l) => l.event === 'run.finished');
    expect(finished).toMatchObject({ status: 'failed' });
    expect(finished!.epochsRun as number).toBeLessThan(400);
  }, 180_000);
});
