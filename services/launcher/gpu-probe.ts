import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { gpuPackageInstalled } from '../../src/compute/gpu-package.js';
import { cpuCount } from './gc-threads.js';
import type { GpuMachine } from './worker-plan.js';

/**
 * TEST-ONLY, not a user setting (and not in docs/cli.md): FLEET_TEST_FAKE_GPUS=N
 * makes the launcher take tfjs-node-gpu as installed and N GPUs as listed,
 * so tests on machines without GPUs can check the plan end to end (each
 * worker process's CUDA_VISIBLE_DEVICES). Nothing is faked in the workers:
 * without the GPU package they select their usual CPU backend.
 */
export const FAKE_GPUS_VARIABLE = 'FLEET_TEST_FAKE_GPUS';

/**
 * What the launcher needs to plan GPU workers, cheaply: whether the GPU
 * package resolves (it is not loaded), and only then how many GPUs the
 * driver lists. Called only for --gpus or --workers auto.
 */
export function probeGpuMachine(env: NodeJS.ProcessEnv = process.env): GpuMachine {
  const cpus = cpuCount();
  const fake = env[FAKE_GPUS_VARIABLE];
  if (fake !== undefined && fake !== '') {
    const gpus = Number(fake);
    if (!Number.isInteger(gpus) || gpus < 0) throw new RangeError(`${FAKE_GPUS_VARIABLE}=${fake}: expected a whole number of GPUs`);
    return { gpuBackend: true, gpus, listedBy: FAKE_GPUS_VARIABLE, cpus };
  }
  if (!gpuPackageInstalled()) return { gpuBackend: false, gpus: null, listedBy: null, cpus };
  return { gpuBackend: true, ...listNvidiaGpus(), cpus };
}

/** The GPUs `nvidia-smi -L` lists ("GPU 0: NVIDIA A100 (UUID: ...)", one a line). */
export function countNvidiaSmiGpus(text: string): number {
  return text.split('\n').filter((line) => /^GPU \d+:/.test(line.trim())).length;
}

function listNvidiaGpus(): { gpus: number | null; listedBy: string | null } {
  try {
    const text = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return { gpus: countNvidiaSmiGpus(text), listedBy: 'nvidia-smi -L' };
  } catch {
    // No nvidia-smi (a slim container image), or it failed: the driver's own directory, one entry per GPU.
  }
  try {
    return { gpus: readdirSync('/proc/driver/nvidia/gpus').length, listedBy: '/proc/driver/nvidia/gpus' };
  } catch {
    return { gpus: null, listedBy: null };
  }
}
