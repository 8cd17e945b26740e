/**
 * fleet beside the PyTorch reference peer (bench/reference): training images/s
 * of the cnn and resnet18 on 1 and 2 cores, in one run on one machine, for
 * fleet's WASM backend, its oneDNN backend when the addon is built, and
 * PyTorch when python3-torch is installed, with the ratios fleet/PyTorch.
 *
 * Every figure comes from fresh processes, because the backend and its thread
 * count are per process. 2 cores means one process with 2 threads for oneDNN
 * and PyTorch; WASM is single-threaded, so its 2-core row is two independent
 * processes training at once (what `fleet train --workers 2` runs, without
 * the exchange), their per-window rates summed. oneDNN also gets that
 * two-process row, the other way to spend 2 cores.
 *
 * A measured window is one step after warm-up: making the augmented batch
 * (full preset), forward, backward, soft-target cross-entropy and the SGD
 * update (momentum 0.9, weight decay 5e-4), on the real CIFAR-10 files.
 *   npm run build && node dist/bench/backend-compare.js
 * Recorded (figures.ts): each row's images/s against PyTorch's row of the
 * same model and cores when PyTorch ran (goal for oneDNN's cnn >= 0.8x),
 * else oneDNN's against WASM's.
 * FLEET_BENCH_MODELS (cnn; resnet18 adds about 10 minutes), FLEET_BENCH_BACKENDS (wasm,onednn,pytorch),
 * FLEET_BENCH_CORES (1,2), FLEET_BENCH_ROUNDS (1; 2 meets the drifting load at two times, twice as long), FLEET_BENCH_STEPS (3 per
 * process), FLEET_BENCH_WARMUP (1), FLEET_BENCH_BATCH (128),
 * FLEET_BENCH_RESNET18_BATCH (64), FLEET_BENCH_DATA (../shared/cifar10),
 * FLEET_BENCH_PYTHON (/usr/bin/python3 when present).
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import { selectBackend } from '../src/compute/index.js';
import { IMAGE_SHAPE, NUM_CLASSES, loadCifar10Split } from '../src/dataset/index.js';
import { buildModel, countParameters, type ModelName } from '../src/model/index.js';
import { epochPermutation } from '../src/training/epoch-order.js';
import { trainableParameters } from '../src/training/model-parameters.js';
import { SgdMomentum } from '../src/training/sgd-momentum.js';
import { TrainBatchMaker } from '../src/training/train-batch.js';
import { computeGradients } from '../src/training/train-step.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { gitSha } from './git-sha.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';

type Peer = 'wasm' | 'onednn' | 'pytorch';

/** What one process measures. */
interface Job {
  peer: Peer;
  model: ModelName;
  threads: number;
  batch: number;
  warmup: number;
  steps: number;
  dataDir: string;
}

/** A process's answer: a rate per measured window, or why it could not measure. */
type Outcome = { imagesPerSecond: number[]; parameters: number } | { skipped: string };

interface Row {
  peer: Peer;
  model: ModelName;
  cores: number;
  processes: number;
  outcome: Outcome;
  /** 1-minute load averages when the row's rounds started: other work on the machine shows here. */
  load: number[];
}

const SELF = fileURLToPath(import.meta.url);
const REFERENCE = fileURLToPath(new URL('../../bench/reference/train_throughput.py', import.meta.url));
const LR = 0.1;

/** In a child: train `job.steps` windows after warm-up on this process's backend. */
async function measureFleet(job: Job): Promise<Outcome> {
  const unavailable = await activate(job);
  if (unavailable) return { skipped: unavailable };
  const split = await loadCifar10Split({
    dir: job.dataDir,
    split: 'train',
    allowPartial: true,
    limit: job.batch * (job.warmup + job.steps),
  });
  const model = buildModel({ name: job.model, seed: 1 });
  const params = trainableParameters(model);
  const optimizer = new SgdMomentum({ momentum: 0.9, weightDecay: 5e-4 });
  const recipe = { augment: 'full', mixupAlpha: 0, cutmixAlpha: 0, labelSmoothing: 0, seed: 1, batchSize: job.batch } as const;
  const batches = new TrainBatchMaker(split, recipe, NUM_CLASSES);
  const order = epochPermutation(1, 1, split.count);
  const rates: number[] = [];
  for (let step = 0; step < job.warmup + job.steps; step++) {
    const start = (step * job.batch) % split.count;
    const indices = order.subarray(start, start + job.batch);
    const t0 = performance.now();
    const batch = batches.make(indices, 1, step);
    tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [indices.length, ...IMAGE_SHAPE]);
      const targets = tf.tensor2d(batch.targets, [indices.length, NUM_CLASSES]);
      optimizer.apply(params, computeGradients(model, params, { x, targets, labels: batch.labels }).grads, LR);
    });
    const ms = performance.now() - t0;
    if (step >= job.warmup) rates.push((indices.length * 1000) / ms);
  }
  const parameters = countParameters(model).trainable;
  optimizer.dispose();
  model.dispose();
  return { imagesPerSecond: rates, parameters };
}

/** Selects the job's backend; returns why it cannot, or null. */
async function activate(job: Job): Promise<string | null> {
  if (job.peer === 'wasm') {
    await selectBackend('wasm');
    return null;
  }
  try {
    await selectBackend('onednn', undefined, { threads: job.threads });
  } catch (err) {
    return `selectBackend('onednn') failed: ${firstLine(err)}`;
  }
  return null;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

/** Runs a command to its end, answering its last stdout line parsed as JSON. */
function runJson(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${code}`));
      else resolve(JSON.parse(last));
    });
  });
}

function fleetProcess(job: Job): Promise<Outcome> {
  // OMP_NUM_THREADS bounds oneDNN's OpenMP pool from the start, before any call sets it.
  return runJson(process.execPath, [SELF, '--child', JSON.stringify(job)], { OMP_NUM_THREADS: String(job.threads) }) as Promise<Outcome>;
}

function pythonPath(): string {
  return process.env.FLEET_BENCH_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/** Null when torch and torchvision import, else why not. */
function pytorchMissing(): string | null {
  try {
    execFileSync(pythonPath(), ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    return null;
  } catch {
    return `PyTorch not importable by ${pythonPath()} (apt-get install python3-torch python3-torchvision, or set FLEET_BENCH_PYTHON)`;
  }
}

async function pytorchProcess(job: Job): Promise<Outcome> {
  const args = [REFERENCE, '--model', job.model, '--threads', String(job.threads), '--batch', String(job.batch)];
  args.push('--steps', String(job.steps), '--warmup', String(job.warmup), '--data-dir', job.dataDir);
  const out = (await runJson(pythonPath(), args, { OMP_NUM_THREADS: String(job.threads) })) as {
    images_per_s: number[];
    parameters: number;
  };
  return { imagesPerSecond: out.images_per_s, parameters: out.parameters };
}

/** `processes` independent processes at once, `threads` each; window i's rates summed. */
async function measureRow(job: Job, processes: number, pytorchAbsent: string | null): Promise<Outcome> {
  if (job.peer === 'pytorch' && pytorchAbsent) return { skipped: pytorchAbsent };
  const outcomes = await Promise.all(
    Array.from({ length: processes }, () => (job.peer === 'pytorch' ? pytorchProcess(job) : fleetProcess(job))),
  );
  const skipped = outcomes.find((o) => 'skipped' in o);
  if (skipped) return skipped;
  const measured = outcomes as Array<{ imagesPerSecond: number[]; parameters: number }>;
  const sums = measured[0]!.imagesPerSecond.map((_, i) => measured.reduce((s, o) => s + (o.imagesPerSecond[i] ?? 0), 0));
  return { imagesPerSecond: sums, parameters: measured[0]!.parameters };
}

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(',').filter(Boolean);
}

function cell(o: Outcome): string {
  if ('skipped' in o) return 'skipped';
  const { mean, std } = meanStd(o.imagesPerSecond);
  return `${mean.toFixed(1)} +- ${std.toFixed(1)} (n=${o.imagesPerSecond.length})`;
}

/** mean_a / mean_b with the relative stds added in quadrature. */
function ratio(a: Outcome, b: Outcome | undefined): string {
  if (!b || 'skipped' in a || 'skipped' in b) return '-';
  const x = meanStd(a.imagesPerSecond);
  const y = meanStd(b.imagesPerSecond);
  const r = x.mean / y.mean;
  return `${r.toFixed(2)}x +- ${(r * Math.hypot(x.std / x.mean, y.std / y.mean)).toFixed(2)}`;
}

function layout(peer: Peer, cores: number, processes: number): string {
  if (peer === 'wasm') return processes > 1 ? `${processes} processes x 1 thread` : '1 process (single-threaded)';
  return processes > 1 ? `${processes} processes x ${cores / processes} thread` : `1 process x ${cores} thread${cores > 1 ? 's' : ''}`;
}

export async function run(): Promise<void> {
  const models = list('FLEET_BENCH_MODELS', 'cnn') as ModelName[];
  const peers = list('FLEET_BENCH_BACKENDS', 'wasm,onednn,pytorch') as Peer[];
  const coreCounts = list('FLEET_BENCH_CORES', '1,2').map(Number);
  const steps = Number(process.env.FLEET_BENCH_STEPS ?? 3);
  const rounds = Number(process.env.FLEET_BENCH_ROUNDS ?? 1);
  const warmup = Number(process.env.FLEET_BENCH_WARMUP ?? 1);
  const batchOf = (m: ModelName) =>
    Number(
      (m === 'resnet18' ? process.env.FLEET_BENCH_RESNET18_BATCH : undefined) ??
        process.env.FLEET_BENCH_BATCH ??
        (m === 'resnet18' ? 64 : 128),
    );
  const dataDir = process.env.FLEET_BENCH_DATA ?? fileURLToPath(new URL('../../../shared/cifar10', import.meta.url));
  const pytorchAbsent = peers.includes('pytorch') ? pytorchMissing() : null;
  console.log(
    `backend-compare: ${rounds} rounds of one process per row, each ${steps} measured steps after ${warmup} warm-up, git ${gitSha()}, node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`,
  );
  if (pytorchAbsent) console.log(`pytorch rows skipped: ${pytorchAbsent}`);

  // Rounds: every row runs once per round in a fresh process, so rows that are
  // compared meet the machine's drifting load at several times, not one.
  const rows: Row[] = [];
  for (const model of models) {
    for (const cores of coreCounts) {
      for (const peer of peers) {
        const layouts = peer === 'wasm' ? [cores] : peer === 'onednn' && cores > 1 ? [1, cores] : [1];
        for (const processes of layouts) rows.push({ peer, model, cores, processes, outcome: { skipped: 'not measured' }, load: [] });
      }
    }
  }
  for (let round = 1; round <= rounds; round++) {
    for (const r of rows) {
      if (r.peer === 'pytorch' && pytorchAbsent) continue;
      const job: Job = { peer: r.peer, model: r.model, threads: r.cores / r.processes, batch: batchOf(r.model), warmup, steps, dataDir };
      r.load.push(loadavg()[0] ?? 0);
      const outcome = await measureRow(job, r.processes, pytorchAbsent);
      const where = `round ${round}, ${r.peer} ${r.model} ${r.cores} core(s), ${layout(r.peer, r.cores, r.processes)}`;
      if ('skipped' in outcome) {
        // A round that cannot measure (an addon being rebuilt, say) keeps the windows of the others.
        if ('skipped' in r.outcome) r.outcome = outcome;
        console.log(`${where}: skipped, ${outcome.skipped}`);
        continue;
      }
      const before = 'skipped' in r.outcome ? [] : r.outcome.imagesPerSecond;
      r.outcome = { imagesPerSecond: [...before, ...outcome.imagesPerSecond], parameters: outcome.parameters };
      console.log(`${where}: ${cell(outcome)} images/s`);
    }
  }
  for (const r of rows) if (r.peer === 'pytorch' && pytorchAbsent) r.outcome = { skipped: pytorchAbsent };

  console.log(
    `\nmodel | batch | cores | peer | layout | parameters | images/s mean +- std (n windows) | fleet/PyTorch | load at the rounds' starts`,
  );
  console.log('--- | --- | --- | --- | --- | --- | --- | --- | ---');
  for (const r of rows) {
    const torch = rows.find((t) => t.peer === 'pytorch' && t.model === r.model && t.cores === r.cores);
    const params = 'skipped' in r.outcome ? '-' : r.outcome.parameters.toLocaleString('en-US');
    const vs = r.peer === 'pytorch' ? ('skipped' in r.outcome ? '-' : '1') : ratio(r.outcome, torch?.outcome);
    console.log(
      `${r.model} | ${batchOf(r.model)} | ${r.cores} | ${r.peer} | ${layout(r.peer, r.cores, r.processes)} | ${params} | ${cell(r.outcome)} | ${vs} | ${r.load.map((l) => l.toFixed(1)).join(' ')}`,
    );
  }
  console.log(`load average at the end: ${loadavg()[0]!.toFixed(2)}`);
  recordRows(rows, batchOf);
}

/** Each measured row as a figure: against PyTorch's row when it ran, else oneDNN's against WASM's. */
function recordRows(rows: Row[], batchOf: (m: ModelName) => number): void {
  const bench = 'backend-compare';
  const command = benchCommand(bench);
  for (const r of rows) {
    if ('skipped' in r.outcome) continue;
    const same = (peer: Peer, processes?: number) =>
      rows.find(
        (t) => t.peer === peer && t.model === r.model && t.cores === r.cores && (processes === undefined || t.processes === processes),
      );
    const torch = same('pytorch');
    const wasm = same('wasm');
    const ref =
      torch && !('skipped' in torch.outcome) && r.peer !== 'pytorch'
        ? torch
        : r.peer === 'onednn' && wasm && !('skipped' in wasm.outcome)
          ? wasm
          : undefined;
    const refName = ref ? `${ref.peer === 'pytorch' ? 'PyTorch 1.13' : 'WASM'}, ${layout(ref.peer, ref.cores, ref.processes)}` : '';
    const goal =
      ref?.peer === 'pytorch' && r.peer === 'onednn' && r.model === 'cnn'
        ? { goal: { of: 'ratio' as const, op: '>=' as const, value: 0.8 } }
        : {};
    recordFigure(
      figureOf(
        {
          bench,
          name: `${r.model} at batch ${batchOf(r.model)}, ${r.cores} core(s), ${r.peer}, ${layout(r.peer, r.cores, r.processes)}: training images/s (n = windows)`,
          unit: 'images/s',
          ...(ref && !('skipped' in ref.outcome) ? { reference: { name: refName, mean: meanStd(ref.outcome.imagesPerSecond).mean } } : {}),
          ...goal,
          limits: `1-minute load average ${r.load.map((l) => l.toFixed(1)).join(', ')} at the rounds' starts: other work takes the cores the row counts on`,
          command,
        },
        r.outcome.imagesPerSecond,
      ),
    );
  }
}

if (isMain(import.meta.url)) {
  if (process.argv[2] === '--child') console.log(JSON.stringify(await measureFleet(JSON.parse(process.argv[3] ?? '{}') as Job)));
  else await run();
}
