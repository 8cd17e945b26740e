import { describe, expect, it } from 'vitest';
import { EVALUATOR_NICENESS, evaluatorNiceness, findNice } from '../../../services/launcher/evaluator-priority.js';
import { workerThreads } from '../../../services/launcher/cpu-sets.js';

describe("the evaluator's priority in a local run", () => {
  it('is lowered (nice 10) when the workers take every CPU, left when a CPU is spare', () => {
    expect(EVALUATOR_NICENESS).toBe(10);
    // The launcher's defaults share every CPU among the workers: the evaluator always shares one.
    for (const [workers, cpus] of [
      [2, 2],
      [2, 8],
      [3, 2],
      [1, 4],
    ] as const)
      expect(evaluatorNiceness(workerThreads(null, workers, cpus), cpus), `${workers} workers on ${cpus} CPUs`).toBe(10);
    // --threads 1 for 2 workers on 4 CPUs: two spare.
    expect(evaluatorNiceness(workerThreads(1, 2, 4), 4)).toBeNull();
    expect(evaluatorNiceness(workerThreads(1, 2, 2), 2)).toBe(10);
  });

  it('finds nice(1) on PATH, or says there is none', () => {
    expect(findNice('/nonexistent-dir')).toBeNull();
    if (process.platform === 'linux') expect(findNice()).toMatch(/\/nice$/);
  });
});
