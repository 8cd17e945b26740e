import type * as tf from '@tensorflow/tfjs';

import type { OnednnAddon } from './addon.js';

/**
 * What the installed oneDNN kernels run on: the addon, and the wasm kernels
 * they replaced, which they call for cases the native code does not cover.
 */
export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap };

let current: OnednnAddon | null = null;
const replaced = new Map<string, tf.KernelConfig>();

export function setAddon(addon: OnednnAddon | null): void {
  current = addon;
}

export function addon(): OnednnAddon {
  if (current === null) throw new Error('oneDNN kernels ran while not installed');
  return current;
}

export function rememberReplaced(config: tf.KernelConfig): void {
  replaced.set(config.kernelName, config);
}

export function takeReplaced(kernelName: string): tf.KernelConfig | undefined {
  const config = replaced.get(kernelName);
  replaced.delete(kernelName);
  return config;
}

/** Runs the wasm kernel that was registered before ours. */
export function callReplaced(kernelName: string, args: KernelArgs): tf.TensorInfo {
  const config = replaced.get(kernelName);
  if (!config) throw new Error(`no wasm kernel ${kernelName} to fall back to`);
  const out = config.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
  if (Array.isArray(out)) throw new Error(`wasm kernel ${kernelName} returned several outputs`);
  return out;
}
