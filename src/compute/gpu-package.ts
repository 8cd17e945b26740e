import { createRequire } from 'node:module';

/** The native GPU build of TensorFlow.js; select-backend.ts imports it first when present. */
export const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';

/**
 * Whether the GPU package is installed where fleet would import it from,
 * without loading it: loading starts libtensorflow (and CUDA), which a
 * launcher that only plans its workers' GPUs should not pay for or hold.
 */
export function gpuPackageInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve(GPU_PACKAGE);
    return true;
  } catch {
    return false;
  }
}
