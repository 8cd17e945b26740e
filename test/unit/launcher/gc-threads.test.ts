import { describe, expect, it } from 'vitest';
import { cpuCount, gcNodeFlags } from '../../../services/launcher/gc-threads.js';

describe('launcher GC threads', () => {
  it('auto: --single-threaded-gc exactly when the processes outnumber the CPUs', () => {
    expect(gcNodeFlags('auto', 4, 2)).toEqual(['--single-threaded-gc']);
    expect(gcNodeFlags('auto', 3, 3)).toEqual([]);
    expect(gcNodeFlags('auto', 10, 64)).toEqual([]);
  });

  it('on and off override the rule', () => {
    expect(gcNodeFlags('on', 1, 64)).toEqual(['--single-threaded-gc']);
    expect(gcNodeFlags('off', 40, 2)).toEqual([]);
  });

  it('counts the CPUs this process may use', () => {
    expect(cpuCount()).toBeGreaterThan(0);
  });
});
