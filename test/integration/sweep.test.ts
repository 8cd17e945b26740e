import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSweepRecord, type SweepRecord } from '../../src/training/run-record/sweep-record.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { logLines, runFleet } from '../helpers/run-fleet.js';
import { until } from '../helpers/wait.js';

/**
 * `fleet sweep`: a grid of real `fleet train` trials, two at a time, with its
 * results files and its events (followed by `fleet watch --sweep`); the
 * driver killed with kill -9 mid-sweep and resumed (no finished trial run
 * again, the trials it left running stopped and continued, results equal to
 * the uninterrupted sweep's); a learning rate too high pruned by ASHA.
 */

let root: string;
let dataDir: string;
let nats: NatsServerHandle | null = null;
const started: FleetProcess[] = [];
/** Trial process groups a test froze: killed at the end whatever happened. */
const frozen: number[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-sweep-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 400, testCount: 100, pattern: 'learnable', seed: 11 });
  if (natsServerAvailable()) nats = await startNatsServer();
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const pid of frozen) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Ended already.
    }
  }
  await nats?.dispose();
  await rm(root, { recursive: true, force: true });
});

/** Three learning rates, 4 epochs of 400 images on the tiny model: about 2 s a trial. */
const GRID = `name: grid
description: three learning rates
base:
  model: tiny
  epochs: 4
  batchSize: 32
  augment: none
  backend: wasm
  allowPartial: true
  seed: 3
parameters:
  lr: [0.05, 0.02, 0.1]
parallel: 2
`;

async function spec(name: string, text: string): Promise<string> {
  const file = join(root, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

const sweepArgs = (file: string, out: string, extra: string[] = []) => ['sweep', file, '--out', out, '--data-dir', dataDir, ...extra];

/** What must not depend on how the sweep ran: each trial's params, status, best and curve. */
function outcome(r: SweepRecord) {
  return r.trials.map((t) => ({ id: t.id, params: t.params, seed: t.seed, status: t.status, best: t.best, curve: t.curve }));
}

let uninterrupted: SweepRecord;

describe('fleet sweep', () => {
  it('runs a 3-trial grid 2 at a time: sweep.json, results.csv, results.md, best.yaml; its events followed by fleet watch --sweep', async () => {
    const out = join(root, 'grid');
    const file = await spec('grid', GRID);
    const natsArgs = nats ? ['--nats', nats.url, '--sweep-id', 'grid-a'] : [];
    const run = await runFleet(sweepArgs(file, out, natsArgs), { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);

    const record = await readSweepRecord(out);
    uninterrupted = record;
    expect(record.status).toBe('finished');
    expect(record.trials.map((t) => [t.id, t.params.lr, t.status, t.epochsRun])).toEqual([
      ['t000', 0.05, 'finished', 4],
      ['t001', 0.02, 'finished', 4],
      ['t002', 0.1, 'finished', 4],
    ]);
    for (const t of record.trials) {
      expect(t.curve.map((p) => p.epoch)).toEqual([1, 2, 3, 4]);
      expect(t.best).toEqual(t.curve.reduce((b, p) => (p.value > b.value ? p : b)));
      // Each trial is a run of its own, with its own id, in its own folder.
      const config = JSON.parse(await readFile(join(out, 'trials', t.id, 'config.json'), 'utf8')) as { config: Record<string, unknown> };
      expect(config.config).toMatchObject({ runId: `${record.sweepId}-${t.id}`, lr: t.params.lr, seed: 3 });
      expect(existsSync(join(out, 'trials', `${t.id}.log`))).toBe(true);
      expect(existsSync(join(out, 'trials', `${t.id}.pid`)), 'pid files go once a trial has exited').toBe(false);
    }

    // Two at a time: the third trial starts only once one of the first two has ended.
    const lines = logLines(run.stdout);
    const startedAt = (id: string) => lines.findIndex((l) => l.msg === 'trial started' && l.trial === id);
    const endedAt = (id: string) => lines.findIndex((l) => l.msg === 'trial finished' && l.trial === id);
    expect(startedAt('t000')).toBeLessThan(Math.min(endedAt('t000'), endedAt('t001')));
    expect(startedAt('t001')).toBeLessThan(Math.min(endedAt('t000'), endedAt('t001')));
    expect(startedAt('t002')).toBeGreaterThan(Math.min(endedAt('t000'), endedAt('t001')));

    const csv = (await readFile(join(out, 'results.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(4);
    const md = await readFile(join(out, 'results.md'), 'utf8');
    const best = [...record.trials].sort((a, b) => b.best!.value - a.best!.value)[0]!;
    expect(md).toContain(`| 1 | ${best.params.lr} | ${(best.best!.value * 100).toFixed(2)}`);
    const bestYaml = await readFile(join(out, 'best.yaml'), 'utf8');
    expect(bestYaml).toMatch(new RegExp(`^lr: ${best.params.lr}$`, 'm'));

    if (nats) {
      const watch = await runFleet(['watch', '--nats', nats.url, '--sweep', 'grid-a', '--wait-timeout', '10s'], { timeoutMs: 30_000 });
      expect(watch.code, watch.stderr).toBe(0);
      const events = watch.stdout.trim().split('\n');
      const types = events.map((l) => /type=(\S+)/.exec(l)?.[1]);
      expect(types[0]).toBe('sweep.started');
      expect(types.at(-1)).toBe('sweep.finished');
      expect(types.filter((t) => t === 'trial.started')).toHaveLength(3);
      expect(types.filter((t) => t === 'trial.epoch')).toHaveLength(12);
      expect(types.filter((t) => t === 'trial.finished')).toHaveLength(3);
      expect(events.find((l) => l.includes('type=trial.started') && l.includes('trial=t001'))).toContain('params="lr=0.02"');
      expect(events.at(-1)).toContain(`bestTrial=${best.id}`);
    }
  });

  it('resumes after kill -9: finished trials are not run again, the trials left running are stopped and continued, results equal', async () => {
    expect(uninterrupted, 'the uninterrupted sweep ran').toBeDefined();
    const out = join(root, 'killed');
    const file = await spec('grid', GRID);
    const driver = startFleet(sweepArgs(file, out));
    started.push(driver);
    // After the first trial has finished, while the others run: the third has started and written its first checkpoint.
    let killedRecord: SweepRecord | null = null;
    await until(
      'a finished trial and the third one running',
      async () => {
        const r = await readSweepRecord(out).catch(() => null);
        if (r?.trials.some((t) => t.status === 'finished') && existsSync(join(out, 'trials', 't002', 'checkpoint.fleet'))) killedRecord = r;
        return killedRecord !== null || driver.child.exitCode !== null;
      },
      60_000,
      10,
    );
    driver.child.kill('SIGKILL');
    await driver.exited;
    expect(killedRecord, 'the driver was killed mid-sweep').not.toBeNull();
    // The trial the driver left running goes on by itself; frozen here, so it is certainly still there when the sweep resumes
    // (a frozen process takes no SIGTERM: the resumed driver kills it after --stop-grace).
    const orphan = JSON.parse(await readFile(join(out, 'trials', 't002.pid'), 'utf8')) as { pid: number };
    frozen.push(orphan.pid);
    process.kill(orphan.pid, 'SIGSTOP');
    const finished = killedRecord!.trials.filter((t) => t.status === 'finished').map((t) => t.id);
    const before = new Map<string, number[]>();
    for (const id of finished) before.set(id, await mtimes(join(out, 'trials', id)));

    const resumed = await runFleet(sweepArgs(file, out, ['--resume', '--stop-grace', '1s']), { timeoutMs: 60_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    const lines = logLines(resumed.stdout);
    // A finished trial was never started again; its run directory is as it was.
    for (const id of finished) {
      expect(lines.some((l) => l.msg === 'trial started' && l.trial === id)).toBe(false);
      expect(await mtimes(join(out, 'trials', id))).toEqual(before.get(id));
    }
    // The trials the killed driver left running were stopped and resumed (t002 from its checkpoint).
    const stopped = lines
      .filter((l) => l.msg === 'sweep --resume: stopped the trial left running by the earlier driver')
      .map((l) => l.trial);
    expect(stopped).toContain('t002');
    for (const id of stopped) {
      expect(lines.find((l) => l.msg === 'trial started' && l.trial === id)).toMatchObject({ resume: true });
    }
    expect(await readFile(join(out, 'trials', 't002.log'), 'utf8')).toContain('resumed from checkpoint');

    const record = await readSweepRecord(out);
    expect(record.status).toBe('finished');
    expect(outcome(record)).toEqual(outcome(uninterrupted));
  });

  it('stops on SIGINT (exit 130, the trials stopped with their checkpoints, still running in sweep.json) and --resume finishes it', async () => {
    const out = join(root, 'interrupted');
    const file = await spec('grid', GRID);
    const driver = startFleet(sweepArgs(file, out));
    started.push(driver);
    await until('a trial past its first epoch', () => existsSync(join(out, 'trials', 't000', 'checkpoint.fleet')), 60_000, 10);
    driver.child.kill('SIGINT');
    const exit = await driver.exited;
    expect(exit.code).toBe(130);
    expect(driver.lines.join('\n')).toMatch(/^fleet: sweep interrupted by SIGINT: .*--resume$/m);
    const stoppedRecord = await readSweepRecord(out);
    expect(stoppedRecord.trials.filter((t) => t.status === 'running').length).toBeGreaterThan(0);
    for (const t of stoppedRecord.trials) expect(existsSync(join(out, 'trials', `${t.id}.pid`)), `${t.id} has exited`).toBe(false);

    const resumed = await runFleet(sweepArgs(file, out, ['--resume']), { timeoutMs: 60_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(outcome(await readSweepRecord(out))).toEqual(outcome(uninterrupted));
  });

  it('prunes a learning rate too high (ASHA, grace period 1); a diverging one (non-finite loss) fails with its reason', async () => {
    const out = join(root, 'pruned');
    // One at a time, so the trial judged has the good trial's epoch-1 score to rank against.
    // lr 0.3 collapses this model to chance at epoch 1 but keeps its loss finite; lr 50 overflows within the first epoch.
    const file = await spec(
      'prune',
      `name: prune
base: { model: tiny, epochs: 3, batchSize: 32, augment: none, backend: wasm, allowPartial: true }
parameters:
  lr: [0.05, 0.3, 50]
parallel: 1
pruning: { rule: asha, gracePeriod: 1, reductionFactor: 2 }
`,
    );
    const run = await runFleet(sweepArgs(file, out), { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const record = await readSweepRecord(out);
    const [good, high, diverging] = record.trials;
    expect(good).toMatchObject({ status: 'finished', epochsRun: 3, prunedAt: null });
    expect(high).toMatchObject({ status: 'pruned', prunedAt: { epoch: 1, rule: 'asha' } });
    // Stopped by SIGTERM after its first epoch: the trainer wrote its checkpoint and ended before its last epoch.
    expect(high!.epochsRun).toBeLessThan(3);
    expect(existsSync(join(out, 'trials', 't001', 'checkpoint.fleet'))).toBe(true);
    expect(diverging).toMatchObject({ status: 'failed', prunedAt: null });
    expect(diverging!.error).toMatch(/training diverged at epoch 1/);
    const md = await readFile(join(out, 'results.md'), 'utf8');
    expect(md).toContain('pruned at epoch 1 (asha)');
    expect(md).toContain('error: training diverged');
  });

  it('refuses a non-empty --out without --resume, and --resume of a folder that holds no sweep (exit 2, nothing written)', async () => {
    const file = await spec('grid', GRID);
    const refused = await runFleet(sweepArgs(file, join(root, 'grid')), { timeoutMs: 30_000 });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^fleet: --out .* already holds a sweep .*pass --resume/m);
    const empty = join(root, 'no-sweep');
    const noSweep = await runFleet(sweepArgs(file, empty, ['--resume']), { timeoutMs: 30_000 });
    expect(noSweep.code).toBe(2);
    expect(noSweep.stderr).toMatch(/holds no sweep to continue/);
    expect(existsSync(empty)).toBe(false);
  });
});

/** mtimes of a run directory's record files. */
async function mtimes(runDir: string): Promise<number[]> {
  return Promise.all(['config.json', 'metrics.jsonl', 'checkpoint.fleet'].map(async (f) => (await stat(join(runDir, f))).mtimeMs));
}
