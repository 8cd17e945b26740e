import { availableParallelism } from 'node:os';
import { allowedCpus } from '../../src/runtime/allowed-cpus.js';

export const SINGLE_THREADED_GC_CHOICES = ['auto', 'on', 'off'] as const;
export type SingleThreadedGc = (typeof SINGLE_THREADED_GC_CHOICES)[number];

/**
 * Node flags for the processes the launcher starts. V8 collects garbage
 * with helper threads, one per core it sees; when fleet's processes already
 * outnumber the CPUs, those threads only compete with the other processes
 * (measured on 2 cores with 8 workers: an exchange round in 0.87x the time
 * with --single-threaded-gc). `auto`: on exactly then. The flag cannot be set
 * once a process runs (V8 aborts) nor through NODE_OPTIONS, so it goes on the
 * child's command line.
 */
export function gcNodeFlags(mode: SingleThreadedGc, processes: number, cpus: number = cpuCount()): string[] {
  const single = mode === 'on' || (mode === 'auto' && processes > cpus);
  return single ? ['--single-threaded-gc'] : [];
}

/** The CPUs this process may use (its affinity list), else what Node reports. */
export function cpuCount(): number {
  return allowedCpus()?.length ?? availableParallelism();
}
