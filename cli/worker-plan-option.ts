import type { Command, Option } from 'commander';
import { probeGpuMachine } from '../services/launcher/gpu-probe.js';
import { cpuCount } from '../services/launcher/gc-threads.js';
import { planWorkers, type GpuMachine, type WorkerPlan } from '../services/launcher/worker-plan.js';
import { originOf } from './config-stages.js';
import { opt } from './option.js';
import { parseGpuList } from './parse-flag.js';

/** --gpus on `fleet train`: one worker process per listed GPU (launcher/worker-plan.ts). */
export function gpusOpt(): Option {
  return opt(
    '--gpus <list>',
    'one worker per listed GPU (nvidia-smi indices, comma-separated: 0,1,2,3), each process seeing only its own ' +
      '(CUDA_VISIBLE_DEVICES); implies --workers; needs @tensorflow/tfjs-node-gpu',
    'FLEET_GPUS',
  ).argParser(parseGpuList);
}

/**
 * `fleet train`'s worker plan from its flags: --workers (a count or auto)
 * and --gpus, with the machine probed only when one of them asks. Call with
 * null for a new run, or with a resumed run's worker count.
 */
export function workerPlanner(flags: Record<string, unknown>, command: Command): (resumedWorkers: number | null) => WorkerPlan {
  const origin = originOf(command);
  const workersSource = command.getOptionValueSource('workers');
  const given = workersSource !== undefined && workersSource !== 'default';
  const workers = flags.workers as number | 'auto';
  const gpus = (flags.gpus as number[] | undefined) ?? null;
  let machine: GpuMachine | null = null;
  const machineNow = (): GpuMachine => {
    machine ??=
      gpus !== null || workers === 'auto' ? probeGpuMachine() : { gpuBackend: false, gpus: null, listedBy: null, cpus: cpuCount() };
    return machine;
  };
  return (resumedWorkers) =>
    planWorkers({
      workers,
      workersFrom: given ? origin('workers') : null,
      gpus,
      gpusFrom: origin('--gpus'),
      backend: String(flags.backend),
      machine: machineNow(),
      resumedWorkers,
    });
}

/** The planned count becomes --workers' value: the run config, and the coordinator's flags, hold a number. */
export function setPlannedWorkers(command: Command, plan: WorkerPlan): void {
  if (command.getOptionValue('workers') === plan.workers) return;
  const source = command.getOptionValueSource('workers');
  command.setOptionValueWithSource('workers', plan.workers, source === undefined || source === 'default' ? 'cli' : source);
}
