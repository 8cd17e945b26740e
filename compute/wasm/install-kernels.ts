import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';

import { batchMatMulKernel, fusedMatMulKernel } from './batch-mat-mul.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { captureUpstream } from './upstream-kernels.js';

type KernelFn = (args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }) => tf.TensorInfo;

/** Our wasm kernels: name -> implementation. */
const replacements: Record<string, KernelFn> = {
  Conv2DBackpropFilter: conv2dBackpropFilterKernel,
  Conv2DBackpropInput: conv2dBackpropInputKernel,
  BatchMatMul: batchMatMulKernel,
  _FusedMatMul: fusedMatMulKernel,
};

let installed = false;

/**
 * Registers fleet's wasm kernels in place of (or, for Conv2DBackpropFilter, in
 * addition to) upstream's. Idempotent. Safe before or after the wasm backend
 * initialises: a replacement keeps the upstream setupFunc, which binds the
 * C++ entry point the upstream kernel function (still called by ours) needs.
 */
export function installWasmKernels(): void {
  if (installed) return;
  for (const [kernelName, kernelFunc] of Object.entries(replacements)) {
    const upstream = captureUpstream(kernelName);
    if (upstream) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      ...(upstream?.setupFunc ? { setupFunc: upstream.setupFunc } : {}),
    });
  }
  installed = true;
}

/** Puts upstream's kernels back (benchmarks compare both in one process). */
export function uninstallWasmKernels(): void {
  if (!installed) return;
  for (const kernelName of Object.keys(replacements)) {
    tf.unregisterKernel(kernelName, 'wasm');
    const upstream = captureUpstream(kernelName);
    if (upstream) tf.registerKernel(upstream);
  }
  installed = false;
}

export function wasmKernelsInstalled(): boolean {
  return installed;
}

export function replacedKernelNames(): string[] {
  return Object.keys(replacements);
}
