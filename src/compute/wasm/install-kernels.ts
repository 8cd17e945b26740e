import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';

import { batchMatMulKernel, fusedMatMulKernel } from './batch-mat-mul.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { fusedBatchNormKernel } from './fused-batch-norm.js';
import { identityKernel } from './identity.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { meanKernel, sumKernel } from './reduce-leading-axes.js';
import { captureUpstream } from './upstream-kernels.js';

type KernelFn = (args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }) => tf.TensorInfo;

/** Our wasm kernels: name -> implementation. */
const replacements: Record<string, KernelFn> = {
  Conv2DBackpropFilter: conv2dBackpropFilterKernel,
  Conv2DBackpropInput: conv2dBackpropInputKernel,
  BatchMatMul: batchMatMulKernel,
  _FusedMatMul: fusedMatMulKernel,
  Sum: sumKernel,
  Mean: meanKernel,
  MaxPoolGrad: maxPoolGradKernel,
  Identity: identityKernel,
  FusedBatchNorm: fusedBatchNormKernel,
};

/** Names of our kernels currently registered for wasm. */
const active = new Set<string>();

/**
 * Registers fleet's wasm kernels in place of (or, for Conv2DBackpropFilter, in
 * addition to) upstream's. Idempotent. Safe before or after the wasm backend
 * initialises: a replacement keeps the upstream setupFunc, which binds the
 * C++ entry point the upstream kernel function (still called by ours) needs.
 */
export function installWasmKernels(): void {
  useWasmKernels(Object.keys(replacements));
}

/** Puts upstream's kernels back (Conv2DBackpropFilter then is missing again). */
export function uninstallWasmKernels(): void {
  useWasmKernels([]);
}

/**
 * Makes exactly `names` of our kernels active, upstream's for the rest;
 * benchmarks use it to compare kernel sets in one process.
 */
export function useWasmKernels(names: string[]): void {
  for (const kernelName of Object.keys(replacements)) {
    const want = names.includes(kernelName);
    if (want === active.has(kernelName)) continue;
    const upstream = captureUpstream(kernelName);
    if (want) {
      if (upstream) tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel({
        kernelName,
        backendName: 'wasm',
        kernelFunc: replacements[kernelName] as unknown as tf.KernelFunc,
        ...(upstream?.setupFunc ? { setupFunc: upstream.setupFunc } : {}),
      });
      active.add(kernelName);
    } else {
      tf.unregisterKernel(kernelName, 'wasm');
      if (upstream) tf.registerKernel(upstream);
      active.delete(kernelName);
    }
  }
}

export function wasmKernelsInstalled(): boolean {
  return Object.keys(replacements).every((name) => active.has(name));
}

export function replacedKernelNames(): string[] {
  return Object.keys(replacements);
}
