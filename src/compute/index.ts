/** compute/: which TensorFlow.js backend runs, and fleet's fast wasm training kernels. */
export { selectBackend, NATIVE_INSTALL_HINT, type SelectedBackend } from './select-backend.js';
export { BackendUnavailableError, type BackendChoice } from './backend-errors.js';
export { GPU_PACKAGE, gpuPackageInstalled } from './gpu-package.js';
export {
  installWasmKernels,
  uninstallWasmKernels,
  useWasmKernels,
  wasmKernelsInstalled,
  replacedKernelNames,
} from './wasm/install-kernels.js';
export { UnsupportedConvError } from './wasm/conv-geometry.js';
export { setOnednnThreads } from './onednn/index.js';
