import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The evaluator's OS priority in a local run. It scores the test set while
 * the workers train; where the workers' threads already take every CPU, its
 * scoring would slow the synchronous rounds (each waits for its slowest
 * worker). At niceness 10 the scheduler gives it about a tenth of a core's
 * weight against a worker at 0: it takes what the workers leave (their
 * waits at each round's exchange) and still finishes, at the workers' cost
 * only when nothing else runs.
 */
export const EVALUATOR_NICENESS = 10;

/**
 * The niceness the evaluator gets next to workers with these native thread
 * counts on `cpus` CPUs: EVALUATOR_NICENESS when they leave no CPU spare,
 * else null (it has a CPU of its own and runs at the launcher's priority).
 */
export function evaluatorNiceness(workerThreads: readonly number[], cpus: number): number | null {
  const busy = workerThreads.reduce((a, b) => a + b, 0);
  return busy >= cpus ? EVALUATOR_NICENESS : null;
}

/**
 * nice(1) on PATH, or null. A process started through it has every thread
 * at that niceness (Linux keeps a niceness per thread, and threads inherit
 * it when created; os.setPriority on a started process reaches only its
 * main thread, not the helper threads Node starts first).
 */
export function findNice(path = process.env.PATH ?? ''): string | null {
  if (process.platform === 'win32') return null;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'nice');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}
