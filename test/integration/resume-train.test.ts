import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../src/training/checkpoint/run-checkpoint.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import { FLEET_BIN, runFleet } from '../helpers/run-fleet.js';
import { until } from '../helpers/wait.js';

/**
 * Resume everywhere: `fleet train` killed with kill -9 mid-epoch and started
 * again with --resume ends with the weights of a run never interrupted (one
 * process, and a coordinator with 2 workers through the launcher); a finished
 * run is extended with --resume --epochs.
 */

let root: string;
let dataDir: string;
const started: FleetProcess[] = [];
const groups: number[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-resume-train-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 640, testCount: 100, pattern: 'learnable', seed: 11 });
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const pid of groups) killGroup(pid);
  await rm(root, { recursive: true, force: true });
});

// Augmentation, Mixup (keyed by the global step) and a BatchNorm model: every piece of state a resume must carry.
const training = (out: string, extra: string[] = []) => [
  'train',
  '--model',
  'tiny-bn',
  '--epochs',
  '2',
  '--batch-size',
  '32',
  '--lr',
  '0.05',
  '--augment',
  'full',
  '--mixup',
  '0.4',
  '--seed',
  '5',
  '--data-dir',
  dataDir,
  '--allow-partial',
  '--backend',
  'wasm',
  '--progress',
  'log',
  '--out',
  out,
  ...extra,
];

async function finalParams(out: string): Promise<Float32Array> {
  const { header, arrays } = await readCheckpoint(join(out, CHECKPOINT_FILE));
  expect(header.state).toMatchObject({ epochDone: true, epochTotals: { epoch: 2 } });
  return arrays.params!;
}

/** Contributions the coordinator's contribution check clipped, from the run's log (fleet train keeps it in <out>/logs). */
async function clippedRounds(out: string): Promise<number> {
  const text = await readFile(join(out, 'logs', 'coordinator.log'), 'utf8');
  return text.split('\n').filter((l) => l.includes('"msg":"contribution clipped by the contribution check')).length;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

async function metrics(out: string): Promise<Record<string, unknown>[]> {
  return (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The columns that depend on the training only (not on the clock). */
const results = (lines: Record<string, unknown>[]) =>
  lines.map(({ epoch, step, trainLoss, trainAccuracy, trainSamples, testLoss, testAccuracy }) => ({
    epoch,
    step,
    trainLoss,
    trainAccuracy,
    trainSamples,
    testLoss,
    testAccuracy,
  }));

/** The state of the checkpoint in `out` now, or null while there is none. */
async function checkpointState(out: string): Promise<Record<string, unknown> | null> {
  if (!existsSync(join(out, CHECKPOINT_FILE))) return null;
  return (await readCheckpoint(join(out, CHECKPOINT_FILE))).header.state;
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('fleet train --resume after kill -9', () => {
  it('one process: killed mid-epoch twice, resumed twice, ends with the weights and metrics of an uninterrupted run', async () => {
    const reference = join(root, 'one-reference');
    const out = join(root, 'one-resumed');
    const uninterrupted = runFleet(training(reference, ['--checkpoint-every', '0']), { timeoutMs: 120_000 });

    // Killed in epoch 1 after a periodic checkpoint, then in epoch 2 after the resumed process wrote one.
    for (const epoch of [1, 2]) {
      const p = startFleet([...training(out, ['--checkpoint-every', '3']), ...(epoch > 1 ? ['--resume'] : [])]);
      started.push(p);
      await p.waitFor(new RegExp(`"epoch":${epoch},"step":\\d+,.*"reason":"every N steps","msg":"checkpoint written"`), 90_000);
      p.child.kill('SIGKILL');
      await p.exited;
      const state = await checkpointState(out);
      expect(state, 'killed before the epoch ended').toMatchObject({ writer: 'trainer', epochDone: false, epochTotals: { epoch } });
    }
    const resumed = await runFleet([...training(out, ['--checkpoint-every', '3']), '--resume'], { timeoutMs: 120_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/"epoch":2,"step":[1-9]\d*,.*"msg":"resumed from checkpoint"/);

    const reference_ = await uninterrupted;
    expect(reference_.code, reference_.stderr).toBe(0);
    expect(maxAbsDiff(await finalParams(out), await finalParams(reference))).toBeLessThanOrEqual(1e-6);
    // Each epoch once, with the training totals carried across both kills.
    expect(results(await metrics(out))).toEqual(results(await metrics(reference)));
  });

  it('2 workers through the launcher: the whole process group killed mid-epoch, resumed, ends with the weights and metrics of an uninterrupted run', async () => {
    const reference = join(root, 'two-reference');
    const out = join(root, 'two-resumed');
    const two = (o: string) => training(o, ['--workers', '2', '--batch-size', '16', '--checkpoint-every', '4']);

    const ref = await runFleet(two(reference), { timeoutMs: 180_000 });
    expect(ref.code, ref.stderr).toBe(0);

    // Its own process group: kill -9 takes the launcher, the coordinator, the workers and the rest at once.
    const child = spawn(process.execPath, [FLEET_BIN, ...two(out)], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, FLEET_LOG_PRETTY: '0' },
    });
    groups.push(child.pid!);
    const exited = new Promise((resolve) => child.on('close', resolve));
    // The file, not a log line: a periodic checkpoint of epoch 1 is on disk.
    await until(
      'a checkpoint in the middle of epoch 1',
      async () => {
        const s = await checkpointState(out).catch(() => null);
        return s !== null && s.epochDone === false && (s.globalStep as number) > 0;
      },
      120_000,
    );
    killGroup(child.pid!);
    await exited;
    expect(await checkpointState(out), 'killed before the epoch ended').toMatchObject({ writer: 'coordinator', epochDone: false });

    const resumed = await runFleet([...two(out), '--resume'], { timeoutMs: 180_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    // Exact, but for the contribution check's clip (an honest norm of these tiny runs reaches a few times the median
    // now and then): it scales a staged contribution as sum + k (staged - sum), which rounds differently by which of
    // the round's two contributions arrived first, the one thing a resume does not repeat.
    const clipped = (await clippedRounds(out)) + (await clippedRounds(reference));
    expect(maxAbsDiff(await finalParams(out), await finalParams(reference))).toBeLessThanOrEqual(clipped > 0 ? 1e-5 : 1e-6);
    expect(results(await metrics(out))).toEqual(results(await metrics(reference)));
  });
});

describe('fleet train --resume: finished runs, extension, usage errors', () => {
  it('a finished 1-epoch run extended with --resume --epochs 2 trains epoch 2 under a re-planned schedule', async () => {
    const out = join(root, 'extend');
    const args = (extra: string[]) => [...training(out, ['--checkpoint-every', '0']), ...extra];
    const first = await runFleet(args(['--epochs', '1']));
    expect(first.code, first.stderr).toBe(0);

    // Finished: --resume auto (a restarted pod) is done again; --resume fails; below what was trained is a usage error.
    const auto = await runFleet(args(['--epochs', '1', '--resume', 'auto', '--lr', '0.1']));
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stdout).toContain('"msg":"run already finished: nothing to resume"');
    // A run flag other than --epochs does not change a resumed run: said, not silently dropped.
    expect(auto.stdout).toMatch(/"ignored":\[\{"flag":"--lr","given":0.1,"kept":0.05\}\].*--lr ignored/);
    const always = await runFleet(args(['--epochs', '1', '--resume']));
    expect(always.code).toBe(1);
    expect(always.stderr).toMatch(/fleet: nothing to resume: .* raise --epochs to extend it/);

    const extended = await runFleet(args(['--epochs', '2', '--resume']));
    expect(extended.code, extended.stderr).toBe(0);
    expect(extended.stdout).toContain('extending the run from 1 to 2 epochs: the learning-rate schedule is re-planned');
    expect((await metrics(out)).map((m) => m.epoch)).toEqual([1, 2]);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.config.epochs).toBe(2);
    expect(config.plan.totalSteps).toBe(2 * config.plan.stepsPerEpoch);
    expect(await checkpointState(out)).toMatchObject({ config: { epochs: 2 }, epochDone: true, epochTotals: { epoch: 2 } });

    const lower = await runFleet(args(['--epochs', '1', '--resume']));
    expect(lower.code).toBe(2);
    expect(lower.stderr).toMatch(/fleet: invalid configuration: --epochs 1: .* has trained 2 epochs/);
  });

  it('--resume without a checkpoint is a usage error naming the folder; --resume auto starts the run', async () => {
    const out = join(root, 'fresh');
    await mkdir(out, { recursive: true });
    const missing = await runFleet([...training(out), '--resume']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `fleet: --resume: no checkpoint.fleet in ${out}; start without --resume, or use --resume auto (resumes when there is a checkpoint, else starts the run)\n`,
    );
    const auto = await runFleet([...training(out, ['--epochs', '1']), '--resume', 'auto']);
    expect(auto.code, auto.stderr).toBe(0);
    expect(await checkpointState(out)).toMatchObject({ writer: 'trainer', epochDone: true });
  });
});
