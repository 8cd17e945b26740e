import { describe, expect, it } from 'vitest';
import { parseGpuList, planSlots } from '../../../services/sweep/cpu-budget.js';
import { ConfigError } from '../../../src/runtime/config/config-error.js';

describe('planSlots', () => {
  it('keeps the asked parallelism when trials x workers fit the CPUs, and shares the CPUs out as threads', () => {
    expect(planSlots({ parallel: 2, workersPerTrial: 1, cpus: 8, gpus: null, trials: 10 })).toEqual({
      parallel: 2,
      threadsPerWorker: 4,
      gpuSets: null,
      notes: [],
    });
    expect(planSlots({ parallel: 2, workersPerTrial: 2, cpus: 8, gpus: null, trials: 10 }).threadsPerWorker).toBe(2);
  });

  it('lowers parallel so trials x workers never exceed the CPUs, saying why', () => {
    const plan = planSlots({ parallel: 6, workersPerTrial: 2, cpus: 5, gpus: null, trials: 12 });
    expect(plan.parallel).toBe(2);
    expect(plan.threadsPerWorker).toBe(1);
    expect(plan.notes).toEqual(['parallel 6 lowered to 2: 2 x 2 worker(s) per trial fill the 5 CPU(s) this process may use']);
  });

  it('runs no more trials at once than there are to run', () => {
    const plan = planSlots({ parallel: 4, workersPerTrial: 1, cpus: 8, gpus: null, trials: 1 });
    expect(plan).toMatchObject({ parallel: 1, threadsPerWorker: 8 });
    expect(plan.notes[0]).toMatch(/only 1 trial/);
  });

  it('refuses more workers per trial than CPUs (one trial would oversubscribe them)', () => {
    expect(() => planSlots({ parallel: 1, workersPerTrial: 3, cpus: 2, gpus: null, trials: 1 })).toThrow(ConfigError);
    expect(() => planSlots({ parallel: 1, workersPerTrial: 3, cpus: 2, gpus: null, trials: 1 })).toThrow(/workersPerTrial 3/);
  });

  it('with --gpus: one GPU per worker, each slot its own GPUs, parallel lowered to fit them', () => {
    const plan = planSlots({ parallel: 4, workersPerTrial: 1, cpus: 8, gpus: ['0', '1', '2'], trials: 10 });
    expect(plan.parallel).toBe(3);
    expect(plan.gpuSets).toEqual([['0'], ['1'], ['2']]);
    expect(plan.notes[0]).toMatch(/3 GPU\(s\) of --gpus/);
    const two = planSlots({ parallel: 2, workersPerTrial: 2, cpus: 8, gpus: ['0', '1', '2', '3'], trials: 10 });
    expect(two.gpuSets).toEqual([
      ['0', '1'],
      ['2', '3'],
    ]);
    expect(() => planSlots({ parallel: 1, workersPerTrial: 2, cpus: 8, gpus: ['0'], trials: 1 })).toThrow(/needs 2 GPUs/);
  });
});

describe('parseGpuList', () => {
  it('reads device ids, refusing empty, odd or repeated ones', () => {
    expect(parseGpuList('0, 1,3')).toEqual(['0', '1', '3']);
    for (const bad of ['', ',', '0,0', 'a b']) expect(() => parseGpuList(bad)).toThrow(/--gpus/);
  });
});
