import * as tf from '@tensorflow/tfjs';

import { installWasmKernels } from '../wasm/install-kernels.js';
import type { OnednnAddon } from './addon.js';
import { fusedBatchNormKernel } from './batch-norm-kernel.js';
import { conv2dBackpropFilterKernel, conv2dBackpropInputKernel, conv2dKernel, fusedConv2dKernel } from './conv-kernels.js';
import { rememberReplaced, setAddon, takeReplaced, type KernelArgs } from './kernel-context.js';
import { batchMatMulKernel, fusedMatMulKernel } from './matmul-kernels.js';
import { maxPoolGradKernel } from './pool-kernels.js';

const kernels: Record<string, (args: KernelArgs) => tf.TensorInfo> = {
  Conv2D: conv2dKernel,
  FusedConv2D: fusedConv2dKernel,
  Conv2DBackpropInput: conv2dBackpropInputKernel,
  Conv2DBackpropFilter: conv2dBackpropFilterKernel,
  BatchMatMul: batchMatMulKernel,
  _FusedMatMul: fusedMatMulKernel,
  MaxPoolGrad: maxPoolGradKernel,
  FusedBatchNorm: fusedBatchNormKernel,
};

let installed = false;

/**
 * Registers the oneDNN kernels for backend 'wasm' over fleet's wasm kernels
 * (installed first), which they keep as the fallback for cases they do not
 * cover. Idempotent; the last addon given is the one used. Uninstall before
 * switching fleet's wasm kernel set (useWasmKernels), which would otherwise
 * put wasm kernels back under the same names.
 */
export function installOnednnKernels(addon: OnednnAddon): void {
  setAddon(addon);
  if (installed) return;
  installWasmKernels();
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
    const previous = tf.getKernel(kernelName, 'wasm');
    if (previous) {
      rememberReplaced(previous);
      tf.unregisterKernel(kernelName, 'wasm');
    }
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      // The wasm fallback's setupFunc binds the wasm entry points it calls.
      ...(previous?.setupFunc ? { setupFunc: previous.setupFunc } : {}),
    });
  }
  installed = true;
}

/** Puts back the wasm kernels the oneDNN ones replaced. Idempotent. */
export function uninstallOnednnKernels(): void {
  if (!installed) return;
  for (const kernelName of Object.keys(kernels)) {
    tf.unregisterKernel(kernelName, 'wasm');
    const previous = takeReplaced(kernelName);
    if (previous) tf.registerKernel(previous);
  }
  setAddon(null);
  installed = false;
}

export function onednnKernelsInstalled(): boolean {
  return installed;
}

export function onednnKernelNames(): string[] {
  return Object.keys(kernels);
}
