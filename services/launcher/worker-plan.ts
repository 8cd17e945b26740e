import { GPU_PACKAGE } from '../../src/compute/gpu-package.js';
import { ConfigError } from '../../src/runtime/config/config-error.js';
import { workerProcessName } from './local-cluster.js';

/**
 * How many workers `fleet train` starts and which GPU each one sees: a pure
 * function of the flags and what the machine has (launcher/gpu-probe.ts), so
 * every case is unit-tested here. Nothing in it touches a GPU.
 *
 * tfjs-node-gpu has no device picker: a process uses every GPU it sees. So a
 * worker is a process with CUDA_VISIBLE_DEVICES set to its one GPU, and the
 * coordinator and evaluator see none ("") so that TensorFlow, which maps
 * nearly all of a GPU's memory in each process that opens it, leaves the
 * workers' GPUs to the workers.
 */

/** Variables a process gets on top of the launcher's own. */
export type ProcessEnv = Record<string, string>;

export interface GpuMachine {
  /** @tensorflow/tfjs-node-gpu is installed (resolvable; the launcher does not load it). */
  gpuBackend: boolean;
  /** How many GPUs the machine lists (indices 0..n-1); null: not listed (no nvidia-smi, or not looked). */
  gpus: number | null;
  /** What listed them ('nvidia-smi -L', '/proc/driver/nvidia/gpus'), for messages; null when not listed. */
  listedBy: string | null;
  /** The CPUs this process may use (its affinity mask). */
  cpus: number;
}

export interface WorkerPlanInput {
  /** --workers: a count or 'auto'. */
  workers: number | 'auto';
  /** Where --workers came from as the user typed it ('--workers', 'FLEET_WORKERS (--workers)'); null: its default. */
  workersFrom: string | null;
  /** --gpus: the listed indices, or null when not given. */
  gpus: readonly number[] | null;
  /** Where --gpus came from as typed, for messages. */
  gpusFrom: string;
  /** --backend: only auto and tensorflow can load the GPU build. */
  backend: string;
  machine: GpuMachine;
  /** A resumed run keeps its checkpoint's worker count: the plan must start that many. Null: a new run. */
  resumedWorkers: number | null;
}

export interface WorkerPlan {
  workers: number;
  /** Each worker's GPU (worker i sees gpus[i]), or null: workers on the CPU, environment untouched. */
  gpus: number[] | null;
  /** Why this many: --workers N, one per --gpus entry, or --workers auto by GPUs or by CPUs. */
  basis: 'workers' | 'gpus' | 'auto-gpus' | 'auto-cpus';
  /** With GPUs: what listed the machine's GPUs (the indices were checked against it); null: not checked. */
  listedBy: string | null;
  /** Each process's variables on top of the launcher's. */
  env: { coordinator: ProcessEnv; evaluator: ProcessEnv; workers: ProcessEnv[] };
}

const GPU_BACKENDS = new Set(['auto', 'tensorflow']);

/** Throws ConfigError (exit 2) naming the flag and the value when the flags cannot be honoured on this machine. */
export function planWorkers(input: WorkerPlanInput): WorkerPlan {
  const { machine, resumedWorkers } = input;
  if (input.gpus !== null) {
    const gpus = [...input.gpus];
    const listed = gpus.join(',');
    const refuse = (message: string) => new ConfigError([{ key: 'gpus', flag: input.gpusFrom, message, value: listed }]);
    if (!GPU_BACKENDS.has(input.backend))
      throw refuse(`needs --backend auto or tensorflow (the GPU build of TensorFlow); --backend ${input.backend} never uses a GPU`);
    if (!machine.gpuBackend)
      throw refuse(
        `the GPU backend is not installed (${GPU_PACKAGE} does not resolve from fleet): \`npm install ${GPU_PACKAGE}@4.22.0\`, which needs CUDA 11.2 and cuDNN 8.1`,
      );
    if (machine.gpus !== null) {
      const missing = gpus.filter((g) => g >= machine.gpus!);
      if (missing.length > 0)
        throw refuse(
          `${missing.length === 1 ? `GPU ${missing[0]} does not exist` : `GPUs ${missing.join(', ')} do not exist`}: ${machine.listedBy} lists ${describeGpus(machine.gpus)}`,
        );
    }
    if (input.workersFrom !== null && input.workers !== 'auto' && input.workers !== gpus.length)
      throw new ConfigError([
        {
          key: 'workers',
          flag: input.workersFrom,
          message: `conflicts with ${input.gpusFrom} ${listed}: one worker per listed GPU makes ${gpus.length}; leave --workers out, or make it ${gpus.length} or auto`,
          value: input.workers,
        },
      ]);
    if (resumedWorkers !== null && resumedWorkers !== gpus.length)
      throw refuse(
        `lists ${gpus.length} GPU(s), but the resumed run has ${resumedWorkers} workers (its checkpoint's): list ${resumedWorkers}`,
      );
    return gpuPlan(gpus, 'gpus', machine.listedBy);
  }
  if (input.workers === 'auto') {
    const gpuCount = GPU_BACKENDS.has(input.backend) && machine.gpuBackend ? (machine.gpus ?? 0) : 0;
    if (gpuCount > 0) {
      const count = resumedWorkers ?? gpuCount;
      if (count > gpuCount)
        throw new ConfigError([
          {
            key: 'workers',
            flag: input.workersFrom ?? '--workers',
            message: `one worker per GPU: the resumed run has ${count} workers and ${machine.listedBy} lists ${describeGpus(gpuCount)}; list ${count} GPUs with --gpus, or give --workers ${count}`,
            value: 'auto',
          },
        ]);
      return gpuPlan(
        Array.from({ length: count }, (_, i) => i),
        'auto-gpus',
        machine.listedBy,
      );
    }
    return cpuPlan(resumedWorkers ?? Math.max(1, machine.cpus), 'auto-cpus');
  }
  return cpuPlan(resumedWorkers ?? input.workers, 'workers');
}

/** A process's variables by the name the launcher gives it: coordinator, worker-i, evaluator. */
export function processEnvOf(plan: WorkerPlan): (process: string) => ProcessEnv {
  const byName = new Map<string, ProcessEnv>([
    ['coordinator', plan.env.coordinator],
    ['evaluator', plan.env.evaluator],
    ...plan.env.workers.map((env, i) => [workerProcessName(i), env] as const),
  ]);
  return (process) => byName.get(process) ?? {};
}

function gpuPlan(gpus: number[], basis: WorkerPlan['basis'], listedBy: string | null): WorkerPlan {
  const none = { CUDA_VISIBLE_DEVICES: '' };
  return {
    workers: gpus.length,
    gpus,
    basis,
    listedBy,
    env: {
      coordinator: { ...none },
      evaluator: { ...none },
      // PCI_BUS_ID: CUDA numbers the GPUs as nvidia-smi does (its default puts the fastest first), so --gpus 2 is nvidia-smi's GPU 2.
      workers: gpus.map((g) => ({ CUDA_VISIBLE_DEVICES: String(g), CUDA_DEVICE_ORDER: 'PCI_BUS_ID' })),
    },
  };
}

function cpuPlan(workers: number, basis: WorkerPlan['basis']): WorkerPlan {
  return {
    workers,
    gpus: null,
    basis,
    listedBy: null,
    env: { coordinator: {}, evaluator: {}, workers: Array.from({ length: workers }, () => ({})) },
  };
}

function describeGpus(n: number): string {
  return n === 0 ? 'no GPUs' : n === 1 ? '1 GPU (0)' : `${n} GPUs (0-${n - 1})`;
}
