/** compute/onednn/: fleet's native oneDNN CPU kernels (an optional addon) over the wasm backend's heap. */
import { loadOnednn, type OnednnAddon } from './addon.js';
import { OnednnUnavailableError } from './onednn-errors.js';

export { loadOnednn, onednnLoadError, type OnednnAddon } from './addon.js';
export { installOnednnKernels, uninstallOnednnKernels, onednnKernelsInstalled, onednnKernelNames } from './install-kernels.js';
export { setOnednnConvLayouts, onednnConvLayouts, type ConvLayout, type ConvOp } from './layouts.js';
export { OnednnUnavailableError } from './onednn-errors.js';

/** Threads of oneDNN's OpenMP pool for every later kernel call. */
export function setOnednnThreads(n: number): void {
  requireAddon().setThreads(n);
}

export function onednnThreads(): number {
  return requireAddon().getThreads();
}

function requireAddon(): OnednnAddon {
  const addon = loadOnednn();
  if (!addon) throw new OnednnUnavailableError();
  return addon;
}
