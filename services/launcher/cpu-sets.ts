import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { evenSizes } from '../../src/runtime/even-split.js';

/**
 * CPU pinning for the one-machine launcher: each worker gets its own
 * contiguous set of the CPUs this process may use, and keeps it. A
 * synchronous round waits for its slowest worker; a worker the scheduler
 * moves between cores (it sleeps at every exchange) is fast one round and
 * slow the next, while a pinned one keeps the speed of its core, which
 * --balance speed can then measure and use. With a multi-threaded backend it
 * also keeps N workers' thread pools off each other's cores.
 */

/**
 * `workers` disjoint CPU lists in taskset's form, the CPUs shared out in
 * order (the first `cpus % workers` workers get one more); null when there
 * are fewer CPUs than workers (pinning would put two on one core).
 */
export function workerCpuSets(cpus: readonly number[], workers: number): string[] | null {
  if (workers < 1 || cpus.length < workers) return null;
  let at = 0;
  return evenSizes(cpus.length, workers).map((n) => {
    const set = cpus.slice(at, at + n).join(',');
    at += n;
    return set;
  });
}

/** The taskset program on PATH, or null (not Linux, or util-linux absent). */
export function findTaskset(path = process.env.PATH ?? ''): string | null {
  if (process.platform !== 'linux') return null;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'taskset');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/**
 * Native kernel threads of each local worker: --threads for each when given,
 * else this machine's CPUs split evenly among them (at least one each).
 */
export function workerThreads(threads: number | null, workers: number, cpus: number): number[] {
  if (threads !== null) return Array.from({ length: workers }, () => threads);
  return evenSizes(Math.max(cpus, workers), workers);
}
