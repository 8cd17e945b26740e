/**
 * Elastic membership (--workers MIN:MAX): the flag's forms, the global batch
 * cut among the members present (the sampler), the schedule that does not
 * move with the membership, and the rounds that refuse a member beyond MAX
 * and wait below MIN.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { globalBatchOf, peakLearningRate, planTraining, type TrainConfig } from '../../../src/runtime/config/train-config.js';
import { parseWorkerRange, WorkerRangeError } from '../../../src/runtime/config/worker-range.js';
import { RoundController, type Assignment } from '../../../services/coordinator/rounds/round-controller.js';
import { RunFullError } from '../../../services/coordinator/rounds/errors.js';
import { EpochSampler } from '../../../services/coordinator/sampler/index.js';
import { planIndices } from '../../../services/coordinator/sampler/round-plan.js';
import { testConfig } from '../../helpers/test-config.js';
import { FLOATS, LAYOUT } from './round-harness.js';

describe('--workers N | MIN:MAX', () => {
  it('N is N:N (plain); MIN:MAX is elastic', () => {
    expect(parseWorkerRange('3')).toEqual({ min: 3, max: 3, elastic: false });
    expect(parseWorkerRange('2:4')).toEqual({ min: 2, max: 4, elastic: true });
    expect(parseWorkerRange(' 1:1 ')).toEqual({ min: 1, max: 1, elastic: true });
  });

  it.each([
    ['0', /MIN must be at least 1/],
    ['0:2', /MIN must be at least 1/],
    ['3:2', /MIN must not exceed MAX/],
    ['2:', /not N or MIN:MAX/],
    [':3', /not N or MIN:MAX/],
    ['1:2:3', /not N or MIN:MAX/],
    ['two', /not N or MIN:MAX/],
    ['1.5', /not N or MIN:MAX/],
    ['-1', /not N or MIN:MAX/],
    ['1:2000', /at most 1024 workers/],
  ])('refuses %s', (text, reason) => {
    expect(() => parseWorkerRange(text)).toThrow(WorkerRangeError);
    expect(() => parseWorkerRange(text)).toThrow(reason);
  });
});

describe('the global batch, fixed for the run', () => {
  it('is cut evenly among the members present: 3 members train batches of 16, then 2 batches of 24; every index once per epoch', () => {
    const count = 200;
    const sampler = new EpochSampler({ seed: 3, count, batchSize: 16, syncEvery: 1, globalBatch: 48 });
    const seen: number[] = [];
    const three = sampler.planRound(['a', 'b', 'c']);
    expect(three.samples).toBe(48);
    expect(three.assignments.map((a) => a.batches.map((b) => b.length))).toEqual([[16], [16], [16]]);
    sampler.commit(three, ['a', 'b', 'c']);
    seen.push(...planIndices(three));
    // 'c' is gone: the same 48 indices a round, 24 each.
    const two = sampler.planRound(['a', 'b']);
    expect(two.samples).toBe(48);
    expect(two.assignments.map((a) => a.batches.map((b) => b.length))).toEqual([[24], [24]]);
    // One member's contribution lost (evicted): its batch goes back to the pool and is served next.
    sampler.commit(two, ['a']);
    seen.push(...two.assignments[0]!.batches.flat());
    while (!sampler.epochDone) {
      const plan = sampler.planRound(['a', 'b']);
      expect(plan.assignments.every((a) => a.batches.length <= 1 && a.samples <= 24)).toBe(true);
      sampler.commit(plan, ['a', 'b']);
      seen.push(...planIndices(plan));
    }
    expect(seen).toHaveLength(count);
    expect(new Set(seen).size).toBe(count);
    // The epoch's last round carries what is left (200 = 4 x 48 + 8), cut in two.
  });

  it('with --sync-every K a round takes K global batches, each member K batches of global / members', () => {
    const sampler = new EpochSampler({ seed: 1, count: 500, batchSize: 8, syncEvery: 3, globalBatch: 24 });
    const two = sampler.planRound(['a', 'b']);
    expect(two.samples).toBe(72);
    expect(two.assignments.map((a) => a.batches.map((b) => b.length))).toEqual([
      [12, 12, 12],
      [12, 12, 12],
    ]);
    sampler.commit(two, ['a', 'b']);
    // 24 does not divide by 5: batches of ceil(24 / 5) = 5, shards of 15 and 14, still 72 indices and at most K batches.
    const five = sampler.planRound(['a', 'b', 'c', 'd', 'e']);
    expect(five.samples).toBe(72);
    expect(five.assignments.every((a) => a.batches.length === 3 && a.batches.every((b) => b.length <= 5))).toBe(true);
  });

  it('survives a checkpoint: the state keeps it, and a state without it (an older checkpoint) takes the run config', () => {
    const sampler = new EpochSampler({ seed: 1, count: 100, batchSize: 8, syncEvery: 1, globalBatch: 24 });
    expect(EpochSampler.fromState(sampler.state()).globalBatch).toBe(24);
    const { globalBatch: _, ...older } = sampler.state();
    expect(EpochSampler.fromState(older, { globalBatch: 16 }).globalBatch).toBe(16);
    expect(EpochSampler.fromState(older).planRound(['a', 'b']).samples).toBe(16);
  });

  it('sets the steps per epoch and the linear lr scaling, whatever --workers says later', () => {
    const started: TrainConfig = testConfig({
      dataDir: '/nonexistent',
      outDir: '/nonexistent',
      workers: 3,
      batchSize: 16,
      lrScaling: 'linear',
      lr: 0.1,
    });
    started.globalBatch = 48;
    const resumedWithTwo: TrainConfig = { ...started, workers: 2 };
    for (const config of [started, resumedWithTwo]) {
      expect(globalBatchOf(config)).toBe(48);
      expect(planTraining(config, 480).stepsPerEpoch).toBe(10);
      expect(peakLearningRate(config)).toBeCloseTo(0.3, 10);
    }
    // A config from before the global batch was recorded: batch x workers.
    expect(globalBatchOf({ ...started, globalBatch: null })).toBe(48);
  });
});

describe('rounds with --workers MIN:MAX', () => {
  function elasticRounds(min: number, max: number) {
    const config = testConfig({ dataDir: '/nonexistent', outDir: '/nonexistent', workers: max, batchSize: 4, epochs: 1 });
    config.globalBatch = 4 * max;
    const sampler = new EpochSampler({ seed: 1, count: 96, batchSize: 4, syncEvery: 1, globalBatch: 4 * max });
    const noop = async () => {};
    const controller = new RoundController({
      config,
      plan: planTraining(config, 96),
      layout: LAYOUT,
      params: new Float32Array(FLOATS).fill(0.5),
      momentum: new Float32Array(FLOATS),
      sampler,
      expectedWorkers: min,
      minWorkers: min,
      maxWorkers: max,
      roundTimeoutMs: 60_000,
      heartbeatTimeoutMs: 60_000,
      checkpointEveryRounds: 0,
      log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
      hooks: { onEpochEnd: noop, onCheckpoint: noop },
    });
    const contribute = (worker: string, a: Assignment) => {
      const samples = a.batches.reduce((n, b) => n + b.indices.length, 0);
      return controller.contribute(worker, {
        round: a.round,
        version: a.version,
        kind: 'gradients',
        sampleCount: samples,
        lossSum: samples,
        correct: 0,
        values: controller.stageContribution(samples, new Float32Array(FLOATS).fill(0.1)),
      });
    };
    return { controller, sampler, contribute };
  }
  const samplesOf = (a: Assignment | null) => a!.batches.reduce((n, b) => n + b.indices.length, 0);

  it('starts with MIN, admits a joiner at the next round, refuses one beyond MAX (run is full), waits below MIN', async () => {
    const { controller, contribute } = elasticRounds(2, 3);
    const a = controller.register('a');
    const b = controller.register('b');
    const [a0, b0] = await Promise.all([controller.nextRound(a, 0), controller.nextRound(b, 0)]);
    // Two of MAX 3: the global batch of 12 in two.
    expect([samplesOf(a0), samplesOf(b0)]).toEqual([6, 6]);
    const c = controller.register('c');
    expect(() => controller.register('d')).toThrow(RunFullError);
    expect(() => controller.register('d')).toThrow('run is full: 3 workers');
    contribute(a, a0!);
    contribute(b, b0!);
    const [a1, b1, c1] = await Promise.all([controller.nextRound(a, 1), controller.nextRound(b, 1), controller.nextRound(c, 1)]);
    expect([samplesOf(a1), samplesOf(b1), samplesOf(c1)]).toEqual([4, 4, 4]);
    // Two leave: 1 of MIN 2 left after the round, so no round starts until another joins.
    controller.leave(b, 'test');
    controller.leave(c, 'test');
    contribute(a, a1!);
    let started = false;
    const next = controller.nextRound(a, 2).then((x) => {
      started = true;
      return x;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(started).toBe(false);
    const d = controller.register('d');
    const [a2, d2] = await Promise.all([next, controller.nextRound(d, 2)]);
    expect([samplesOf(a2), samplesOf(d2)]).toEqual([6, 6]);
    controller.close('test over');
  });
});
