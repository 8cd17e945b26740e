import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findTaskset, workerCpuSets, workerThreads } from '../../../services/launcher/cpu-sets.js';
import { allowedCpus, parseCpuList } from '../../../src/runtime/allowed-cpus.js';

describe('launcher CPU pinning', () => {
  it('reads the allowed CPUs from /proc/self/status text', () => {
    expect(allowedCpus('Name:\tnode\nCpus_allowed:\tf\nCpus_allowed_list:\t0-3,8,10-11\nMems_allowed:\t1\n')).toEqual([
      0, 1, 2, 3, 8, 10, 11,
    ]);
    expect(allowedCpus('Name:\tnode\n')).toBeNull();
    expect(() => parseCpuList('0-3,x')).toThrow(/not a CPU list: "0-3,x"/);
    // This machine's own answer, where there is one: at least the CPU we run on.
    const own = allowedCpus();
    if (own) expect(own.length).toBeGreaterThan(0);
  });

  it('shares the CPUs out in order, one disjoint set per worker; none when a worker would share', () => {
    expect(workerCpuSets([0, 1], 2)).toEqual(['0', '1']);
    expect(workerCpuSets([0, 1, 2, 3, 4], 2)).toEqual(['0,1,2', '3,4']);
    expect(workerCpuSets([2, 3, 6, 7], 4)).toEqual(['2', '3', '6', '7']);
    expect(workerCpuSets([0, 1], 3)).toBeNull();
    expect(workerCpuSets([0, 1], 0)).toBeNull();
  });

  it('finds taskset on PATH, and says null where it is absent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleet-taskset-'));
    try {
      await writeFile(join(dir, 'taskset'), '#!/bin/sh\n');
      await chmod(join(dir, 'taskset'), 0o755);
      const expected = process.platform === 'linux' ? join(dir, 'taskset') : null;
      expect(findTaskset(`/nonexistent:${dir}`)).toBe(expected);
      expect(findTaskset('/nonexistent')).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('workerThreads', () => {
  it("shares the machine's CPUs among the local workers, at least one each; --threads gives each the same", () => {
    expect(workerThreads(null, 2, 2)).toEqual([1, 1]);
    expect(workerThreads(null, 2, 5)).toEqual([3, 2]);
    expect(workerThreads(null, 3, 2)).toEqual([1, 1, 1]);
    expect(workerThreads(4, 2, 2)).toEqual([4, 4]);
  });
});
