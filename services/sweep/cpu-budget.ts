import { FlagError } from '../../src/runtime/config/flag-error.js';

/**
 * How many trials run at once, and what each gets. Trials x workers per
 * trial never exceed the CPUs this process may use (or, with --gpus, the
 * GPUs given: one per worker), so trials do not slow each other down by
 * sharing cores; the asked parallelism is lowered to fit, and `notes` say why.
 */
export interface SlotPlan {
  /** Trials at once. */
  parallel: number;
  /** --threads of each trial's workers (native kernels): the CPUs shared among every worker that runs at once. */
  threadsPerWorker: number;
  /** With --gpus: the GPUs of slot s (workersPerTrial of them), else null. */
  gpuSets: string[][] | null;
  /** Why `parallel` is lower than asked (for the log), one sentence each. */
  notes: string[];
}

export interface SlotRequest {
  /** The spec's parallel, or --parallel. */
  parallel: number;
  workersPerTrial: number;
  /** CPUs this process may use. */
  cpus: number;
  /** --gpus, or null. */
  gpus: readonly string[] | null;
  /** Trials still to run: more slots than that would only idle. */
  trials: number;
}

export function planSlots(r: SlotRequest): SlotPlan {
  const notes: string[] = [];
  const w = r.workersPerTrial;
  let parallel = r.parallel;
  if (r.gpus !== null) {
    if (w > r.gpus.length) {
      throw new FlagError(
        '--gpus',
        r.gpus.join(','),
        `--gpus: one GPU per worker: workersPerTrial ${w} needs ${w} GPUs, --gpus gives ${r.gpus.length}`,
      );
    }
    const fit = Math.floor(r.gpus.length / w);
    if (parallel > fit) {
      notes.push(`parallel ${parallel} lowered to ${fit}: ${fit} x ${w} worker(s) per trial fill the ${r.gpus.length} GPU(s) of --gpus`);
      parallel = fit;
    }
  } else {
    if (w > r.cpus) {
      throw new FlagError(
        'workersPerTrial',
        w,
        `workersPerTrial ${w}: more workers than the ${r.cpus} CPU(s) this process may use (a trial would share cores with itself)`,
      );
    }
    const fit = Math.floor(r.cpus / w);
    if (parallel > fit) {
      notes.push(
        `parallel ${parallel} lowered to ${fit}: ${fit} x ${w} worker(s) per trial fill the ${r.cpus} CPU(s) this process may use`,
      );
      parallel = fit;
    }
  }
  if (parallel > r.trials && r.trials > 0) {
    notes.push(`parallel ${parallel} lowered to ${r.trials}: only ${r.trials} trial(s) to run`);
    parallel = r.trials;
  }
  parallel = Math.max(1, parallel);
  const threadsPerWorker = Math.max(1, Math.floor(r.cpus / (parallel * w)));
  const gpuSets = r.gpus === null ? null : Array.from({ length: parallel }, (_, s) => r.gpus!.slice(s * w, (s + 1) * w) as string[]);
  return { parallel, threadsPerWorker, gpuSets, notes };
}

/** --gpus "0,1,3" -> ['0', '1', '3']: device ids as CUDA_VISIBLE_DEVICES takes them. */
export function parseGpuList(text: string): string[] {
  const ids = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (ids.length === 0 || ids.some((id) => !/^[A-Za-z0-9-]+$/.test(id)) || new Set(ids).size !== ids.length) {
    throw new FlagError('--gpus', text, `--gpus ${JSON.stringify(text)}: expected distinct device ids separated by commas, e.g. 0,1`);
  }
  return ids;
}
