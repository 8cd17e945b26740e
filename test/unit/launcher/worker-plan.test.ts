import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseGpuList, parseWorkerCount } from '../../../cli/parse-flag.js';
import { countNvidiaSmiGpus, FAKE_GPUS_VARIABLE, probeGpuMachine } from '../../../services/launcher/gpu-probe.js';
import { planWorkers, processEnvOf, type GpuMachine, type WorkerPlanInput } from '../../../services/launcher/worker-plan.js';
import { gpuPackageInstalled } from '../../../src/compute/index.js';
import { ConfigError } from '../../../src/runtime/config/config-error.js';

const gpuMachine = (gpus: number | null, cpus = 16): GpuMachine => ({
  gpuBackend: true,
  gpus,
  listedBy: gpus === null ? null : 'nvidia-smi -L',
  cpus,
});
const cpuMachine: GpuMachine = { gpuBackend: false, gpus: null, listedBy: null, cpus: 6 };

const input = (over: Partial<WorkerPlanInput>): WorkerPlanInput => ({
  workers: 1,
  workersFrom: null,
  gpus: null,
  gpusFrom: '--gpus',
  backend: 'auto',
  machine: cpuMachine,
  resumedWorkers: null,
  ...over,
});

function refusal(over: Partial<WorkerPlanInput>): string {
  try {
    planWorkers(input(over));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('not refused');
}

describe('--gpus and --workers auto: the plan of processes', () => {
  it('parses --gpus as comma-separated GPU indices, each once, naming a bad item', () => {
    expect(parseGpuList('0,1,2,3')).toEqual([0, 1, 2, 3]);
    expect(parseGpuList(' 3 , 1')).toEqual([3, 1]);
    expect(parseGpuList('7')).toEqual([7]);
    for (const [text, says] of [
      ['0,x', "'x' is not a GPU index"],
      ['0,-1', "'-1' is not a GPU index"],
      ['0,,1', "'' is not a GPU index"],
      ['1.5', "'1.5' is not a GPU index"],
      ['', "'' is not a GPU index"],
      ['0,1,0', 'GPU 0 is listed twice'],
    ] as const) {
      expect(() => parseGpuList(text)).toThrow(InvalidArgumentError);
      expect(() => parseGpuList(text)).toThrow(says);
    }
    expect(parseWorkerCount('auto')).toBe('auto');
    expect(parseWorkerCount('4')).toBe(4);
    expect(() => parseWorkerCount('four')).toThrow(InvalidArgumentError);
  });

  it('--gpus: one worker per listed GPU, each process with its own CUDA_VISIBLE_DEVICES; coordinator and evaluator none', () => {
    const plan = planWorkers(input({ gpus: [2, 0, 3], machine: gpuMachine(4) }));
    expect(plan).toMatchObject({ workers: 3, gpus: [2, 0, 3], basis: 'gpus', listedBy: 'nvidia-smi -L' });
    expect(plan.env.workers).toEqual([
      { CUDA_VISIBLE_DEVICES: '2', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
      { CUDA_VISIBLE_DEVICES: '0', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
      { CUDA_VISIBLE_DEVICES: '3', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
    ]);
    const envOf = processEnvOf(plan);
    expect(envOf('coordinator')).toEqual({ CUDA_VISIBLE_DEVICES: '' });
    expect(envOf('evaluator')).toEqual({ CUDA_VISIBLE_DEVICES: '' });
    expect(envOf('worker-1')).toEqual({ CUDA_VISIBLE_DEVICES: '0', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' });
    expect(envOf('worker-3')).toEqual({});
    // --workers that agrees, or auto, is accepted; the tensorflow backend too.
    expect(planWorkers(input({ gpus: [0, 1], workers: 2, workersFrom: '--workers', machine: gpuMachine(2) })).workers).toBe(2);
    expect(planWorkers(input({ gpus: [0, 1], workers: 'auto', workersFrom: '--workers', machine: gpuMachine(8) })).workers).toBe(2);
    expect(planWorkers(input({ gpus: [1], backend: 'tensorflow', machine: gpuMachine(2) })).gpus).toEqual([1]);
    // GPUs not listed (no nvidia-smi): taken as given, and said to be unchecked.
    expect(planWorkers(input({ gpus: [5], machine: gpuMachine(null) }))).toMatchObject({ gpus: [5], listedBy: null });
  });

  it('refuses --gpus that cannot be honoured, naming the flags and the value', () => {
    expect(refusal({ gpus: [0, 1], machine: cpuMachine })).toMatch(
      /--gpus "0,1": the GPU backend is not installed \(@tensorflow\/tfjs-node-gpu/,
    );
    expect(refusal({ gpus: [0, 4], machine: gpuMachine(4) })).toContain(
      '--gpus "0,4": GPU 4 does not exist: nvidia-smi -L lists 4 GPUs (0-3)',
    );
    expect(refusal({ gpus: [2, 3], machine: gpuMachine(1) })).toContain('GPUs 2, 3 do not exist: nvidia-smi -L lists 1 GPU (0)');
    expect(refusal({ gpus: [0, 1], workers: 3, workersFrom: 'FLEET_WORKERS (--workers)', machine: gpuMachine(4) })).toContain(
      'FLEET_WORKERS (--workers) 3: conflicts with --gpus 0,1: one worker per listed GPU makes 2',
    );
    expect(refusal({ gpus: [0], backend: 'onednn', machine: gpuMachine(4) })).toContain('--backend onednn never uses a GPU');
    expect(refusal({ gpus: [0, 1], resumedWorkers: 3, machine: gpuMachine(4) })).toContain(
      'lists 2 GPU(s), but the resumed run has 3 workers',
    );
    // The default --workers 1 is no conflict: --gpus implies the count.
    expect(planWorkers(input({ gpus: [0, 1, 2], workers: 1, workersFrom: null, machine: gpuMachine(4) })).workers).toBe(3);
  });

  it('--workers auto: one per listed GPU with the GPU backend, else one per CPU', () => {
    expect(planWorkers(input({ workers: 'auto', machine: gpuMachine(4) }))).toMatchObject({
      workers: 4,
      gpus: [0, 1, 2, 3],
      basis: 'auto-gpus',
    });
    expect(planWorkers(input({ workers: 'auto', machine: cpuMachine }))).toMatchObject({ workers: 6, gpus: null, basis: 'auto-cpus' });
    expect(planWorkers(input({ workers: 'auto', machine: cpuMachine })).env.workers).toEqual(Array.from({ length: 6 }, () => ({})));
    // The package without GPUs listed (none, or no nvidia-smi), or a backend that never uses one: CPUs.
    expect(planWorkers(input({ workers: 'auto', machine: gpuMachine(0, 3) })).workers).toBe(3);
    expect(planWorkers(input({ workers: 'auto', machine: gpuMachine(null, 3) })).workers).toBe(3);
    expect(planWorkers(input({ workers: 'auto', backend: 'wasm', machine: gpuMachine(4, 3) }))).toMatchObject({ workers: 3, gpus: null });
    // Resumed: the checkpoint's count, on that many GPUs when there are enough.
    expect(planWorkers(input({ workers: 'auto', resumedWorkers: 2, machine: gpuMachine(4) })).gpus).toEqual([0, 1]);
    expect(refusal({ workers: 'auto', resumedWorkers: 5, machine: gpuMachine(4) })).toContain('the resumed run has 5 workers');
    // A count: as given, environment untouched.
    expect(planWorkers(input({ workers: 3, workersFrom: '--workers', machine: gpuMachine(4) }))).toMatchObject({
      workers: 3,
      gpus: null,
      basis: 'workers',
    });
  });

  it('counts the GPUs nvidia-smi -L lists, and takes the test-only variable as an installed package and N GPUs', () => {
    const text =
      'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1b2c)\nGPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-3d4e)\n  MIG 1g.5gb Device 0: (UUID: MIG-5f)\n';
    expect(countNvidiaSmiGpus(text)).toBe(2);
    expect(countNvidiaSmiGpus('')).toBe(0);
    expect(probeGpuMachine({ [FAKE_GPUS_VARIABLE]: '3' })).toMatchObject({ gpuBackend: true, gpus: 3, listedBy: FAKE_GPUS_VARIABLE });
    expect(() => probeGpuMachine({ [FAKE_GPUS_VARIABLE]: 'two' })).toThrow(FAKE_GPUS_VARIABLE);
    // Without @tensorflow/tfjs-node-gpu (as on the build machines) GPUs are not even looked for.
    if (!gpuPackageInstalled()) expect(probeGpuMachine({})).toMatchObject({ gpuBackend: false, gpus: null });
  });
});
