import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/compute/index.js';
import { planTraining, type TrainConfig } from '../../../src/runtime/config/train-config.js';
import { loadCifar10, type Cifar10 } from '../../../src/dataset/index.js';
import { buildModel } from '../../../src/model/index.js';
import { RoundController, type Assignment } from '../../../services/coordinator/rounds/round-controller.js';
import { EpochSampler } from '../../../services/coordinator/sampler/index.js';
import { trainRound, type WorkerModel } from '../../../services/worker/step/train-round.js';
import { layoutLength, readWeights, weightLayout, writeWeights } from '../../../src/training/flat-weights.js';
import { trainableParameters } from '../../../src/training/model-parameters.js';
import { SgdMomentum } from '../../../src/training/sgd-momentum.js';
import { TrainBatchMaker } from '../../../src/training/train-batch.js';
import { writeCifar10Files } from '../../fixtures/cifar10-files.js';
import { testConfig } from '../../helpers/test-config.js';

let root: string;
let data: Cifar10;

beforeAll(async () => {
  await selectBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'fleet-exact-'));
  await writeCifar10Files(root, { trainBatches: 1, perBatch: 256, testCount: 20, pattern: 'learnable', seed: 11 });
  data = await loadCifar10({ dir: root, allowPartial: true });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function configFor(workers: number, batchSize: number, syncEvery: number, balance: 'equal' | 'speed' = 'equal'): TrainConfig {
  return testConfig({
    runId: 'exact',
    workers,
    epochs: 2,
    batchSize,
    lr: 0.05,
    weightDecay: 5e-4,
    augment: 'full',
    seed: 5,
    dataDir: root,
    outDir: root,
    syncEvery,
    balance,
  });
}

function workerModel(config: TrainConfig): WorkerModel {
  const model = buildModel({ name: config.model, seed: config.seed });
  return { model, params: trainableParameters(model), layout: weightLayout(model), batches: new TrainBatchMaker(data.train, config, 10) };
}

/**
 * Drives a RoundController with in-process workers for `rounds` rounds and
 * returns the master parameters; the assignments each worker got are recorded.
 * `msPerSample` (per worker) is the training time each contribution reports.
 */
async function runRounds(config: TrainConfig, rounds: number, seen: Assignment[][] = [], msPerSample?: number[]): Promise<Float32Array> {
  const workers = Array.from({ length: config.workers }, () => workerModel(config));
  const layout = workers[0]!.layout;
  const params = readWeights(workers[0]!.model, layout, new Float32Array(layoutLength(layout)));
  const controller = new RoundController({
    config,
    plan: planTraining(config, data.train.count),
    layout,
    params,
    momentum: new Float32Array(params.length),
    sampler: new EpochSampler({
      seed: config.seed,
      count: data.train.count,
      batchSize: config.batchSize,
      syncEvery: config.syncEvery,
      epoch: 1,
    }),
    expectedWorkers: config.workers,
    roundTimeoutMs: 60_000,
    heartbeatTimeoutMs: 60_000,
    checkpointEveryRounds: 0,
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    hooks: { onEpochEnd: async () => {}, onCheckpoint: async () => {} },
  });
  const ids = workers.map((_, i) => controller.register(`worker-${i}`));
  const optimizers = workers.map(() => new SgdMomentum({ momentum: config.momentum, weightDecay: config.weightDecay }));
  let next = 0;
  for (let r = 0; r < rounds; r++) {
    const assignments = await Promise.all(ids.map((id) => controller.nextRound(id, next)));
    seen.push(assignments.map((a) => a!));
    for (const [i, a] of assignments.entries()) {
      const worker = workers[i]!;
      const { values } = controller.acquireParameters(a!.version);
      if (config.syncEvery === 1 || r === 0) writeWeights(worker.model, layout, values);
      const out = new Float32Array(values.length);
      const mode = config.syncEvery === 1 ? { kind: 'gradients' as const } : { kind: 'parameters' as const, optimizer: optimizers[i]! };
      const result = await trainRound(worker, { ...a!, batches: a!.batches.map((b) => ({ indices: b.indices, lr: b.lr })) }, mode, out);
      const trainMs = msPerSample ? msPerSample[i]! * result.sampleCount : 0;
      controller.contribute(ids[i]!, {
        round: a!.round,
        version: a!.version,
        kind: mode.kind,
        ...result,
        values: controller.stageContribution(result.sampleCount, out),
        trainMs,
      });
    }
    next = assignments[0]!.round + 1;
    // Let the round's closing (async) finish.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const final = controller.acquireParameters(0).values.slice();
  controller.close('test over');
  for (const w of workers) w.model.dispose();
  return final;
}

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}

describe('synchronous data parallelism is exact', () => {
  it('2 workers at batch 32 end 5 steps where 1 worker at batch 64 does, on the same samples', async () => {
    const twoSeen: Assignment[][] = [];
    const oneSeen: Assignment[][] = [];
    const two = await runRounds(configFor(2, 32, 1), 5, twoSeen);
    const one = await runRounds(configFor(1, 64, 1), 5, oneSeen);
    // Same samples in the same order: the two shards concatenated are the single batch.
    twoSeen.forEach((round, r) => {
      expect([...round[0]!.batches[0]!.indices, ...round[1]!.batches[0]!.indices]).toEqual(oneSeen[r]![0]!.batches[0]!.indices);
    });
    const initial = readWeights(
      buildModel({ name: 'tiny', seed: 5 }),
      weightLayout(buildModel({ name: 'tiny', seed: 5 })),
      new Float32Array(two.length),
    );
    expect(maxRelativeDifference(two, initial)).toBeGreaterThan(1e-3); // it trained
    expect(maxRelativeDifference(two, one)).toBeLessThan(1e-5);
  });

  it('--balance speed: a worker reported 3x slower gets a quarter of the global batch, and 5 steps still equal 1 worker at batch 64', async () => {
    const seen: Assignment[][] = [];
    const oneSeen: Assignment[][] = [];
    const balanced = await runRounds(configFor(2, 32, 1, 'speed'), 5, seen, [30, 10]);
    const one = await runRounds(configFor(1, 64, 1), 5, oneSeen);
    // Round 0 has no measure yet: equal. Then 1/30 against 1/10 images per ms: 16 and 48 (the fast one above --batch-size).
    expect(seen.map((round) => round.map((a) => a.batches[0]!.indices.length))).toEqual([
      [32, 32],
      [16, 48],
      [16, 48],
      [16, 48],
      [16, 48],
    ]);
    seen.forEach((round, r) => {
      expect([...round[0]!.batches[0]!.indices, ...round[1]!.batches[0]!.indices]).toEqual(oneSeen[r]![0]!.batches[0]!.indices);
    });
    expect(maxRelativeDifference(balanced, one)).toBeLessThan(1e-5);
  });

  it('--sync-every 4 with 2 workers equals the average of two independent 4-step runs on the two shards', async () => {
    const config = configFor(2, 32, 4);
    const seen: Assignment[][] = [];
    const averaged = await runRounds(config, 1, seen);
    const independent: Float32Array[] = [];
    for (const assignment of seen[0]!) {
      const worker = workerModel(config);
      const optimizer = new SgdMomentum({ momentum: config.momentum, weightDecay: config.weightDecay });
      const out = new Float32Array(averaged.length);
      await trainRound(
        worker,
        { ...assignment, batches: assignment.batches.map((b) => ({ indices: b.indices, lr: b.lr })) },
        { kind: 'parameters', optimizer },
        out,
      );
      worker.model.dispose();
      independent.push(out);
    }
    expect(seen[0]![0]!.batches).toHaveLength(4);
    const mean = independent[0]!.map((v, i) => (v + independent[1]![i]!) / 2);
    expect(maxRelativeDifference(averaged, mean)).toBeLessThan(1e-6);
  });
});
