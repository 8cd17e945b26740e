import * as tf from '@tensorflow/tfjs';

import type { Logger } from '../runtime/logger.js';
import { BackendUnavailableError, type BackendChoice } from './backend-errors.js';
import { installOnednnKernels, loadOnednn, onednnLoadError, setOnednnThreads, uninstallOnednnKernels } from './onednn/index.js';
import { installWasmKernels } from './wasm/install-kernels.js';
import { allowedCpus } from '../runtime/allowed-cpus.js';
import { GPU_PACKAGE } from './gpu-package.js';

export interface SelectedBackend {
  /** Native CPU kernel threads, where the backend has them. */
  threads?: number;
  /** 'tensorflow', 'onednn' (the wasm backend with fleet's native CPU kernels), 'wasm' or 'cpu'. */
  name: string;
  /** Where it came from: the npm package, or 'builtin' for cpu. */
  source: string;
}

/** Native packages in order of preference; both register backend 'tensorflow'. */
const NATIVE_PACKAGES = [GPU_PACKAGE, '@tensorflow/tfjs-node'] as const;

export const NATIVE_INSTALL_HINT =
  'install the native TensorFlow backend: `npm install @tensorflow/tfjs-node-gpu@4.22.0` for NVIDIA GPUs ' +
  '(needs CUDA 11.2 and cuDNN 8.1; run one worker process per GPU, each with its own CUDA_VISIBLE_DEVICES=<index>), ' +
  'or `npm install @tensorflow/tfjs-node@4.22.0` for the native CPU build';

/**
 * Picks and activates the compute backend. 'auto' prefers the native backend
 * (GPU build, then CPU build), then wasm with fleet's training kernels, then
 * plain JavaScript. Failing to import a native package is the normal path on
 * machines without it.
 */
export async function selectBackend(choice: BackendChoice, log?: Logger, options: BackendOptions = {}): Promise<SelectedBackend> {
  const selected = await activate(choice, options, log);
  // The GPUs this process may use (the launcher's --gpus sets one per worker, "" for the others): seen in each process's own log.
  const devices = process.env.CUDA_VISIBLE_DEVICES;
  log?.info(
    {
      backend: selected.name,
      source: selected.source,
      requested: choice,
      ...(selected.threads ? { threads: selected.threads } : {}),
      ...(devices !== undefined ? { cudaVisibleDevices: devices } : {}),
    },
    'compute backend selected',
  );
  return selected;
}

export interface BackendOptions {
  /** Threads of the native CPU kernels; null or absent: every CPU this process may use. */
  threads?: number | null;
}

export const ONEDNN_INSTALL_HINT =
  'install oneDNN (`apt-get install libdnnl-dev` on Debian or Ubuntu), then build the kernels with `npm rebuild fleet` ' +
  'or `node scripts/build-native.mjs`';

async function activate(choice: BackendChoice, options: BackendOptions, log?: Logger): Promise<SelectedBackend> {
  switch (choice) {
    case 'tensorflow': {
      const errors: string[] = [];
      const native = await tryNative(errors);
      if (native) return native;
      throw new BackendUnavailableError('tensorflow', `${errors.join('; ')}. To use it, ${NATIVE_INSTALL_HINT}`);
    }
    case 'onednn': {
      const onednn = await tryOnednn(options);
      if (onednn) return onednn;
      throw new BackendUnavailableError('onednn', `${onednnLoadError() ?? 'the addon did not load'}. To use it, ${ONEDNN_INSTALL_HINT}`);
    }
    case 'wasm':
      return activateWasm();
    case 'cpu':
      return activateCpu();
    case 'auto': {
      const errors: string[] = [];
      const native = await tryNative(errors);
      if (native) return native;
      log?.debug({ tried: NATIVE_PACKAGES, errors }, 'native tensorflow backend not available');
      try {
        const onednn = await tryOnednn(options);
        if (onednn) return onednn;
        log?.debug({ reason: onednnLoadError() }, 'native oneDNN kernels not available');
        return await activateWasm();
      } catch (err) {
        log?.warn({ err }, 'wasm backend failed to start, using cpu');
        return activateCpu();
      }
    }
    default: {
      const never: never = choice;
      throw new BackendUnavailableError(never, 'unknown backend choice');
    }
  }
}

/** Imports the first native package that loads and activates 'tensorflow'. */
async function tryNative(errors: string[]): Promise<SelectedBackend | null> {
  for (const pkg of NATIVE_PACKAGES) {
    try {
      // A variable specifier keeps TypeScript from requiring the (absent) package.
      const specifier: string = pkg;
      await import(specifier);
    } catch (err) {
      errors.push(`${pkg} not loadable (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
      continue;
    }
    if (await tf.setBackend('tensorflow')) {
      await tf.ready();
      return { name: tf.getBackend(), source: pkg };
    }
    errors.push(`${pkg} loaded but backend 'tensorflow' failed to initialise`);
  }
  return null;
}

/**
 * The wasm backend with fleet's native oneDNN kernels over its heap, when the
 * addon is built; null when it is not (the normal case without libdnnl).
 */
async function tryOnednn(options: BackendOptions): Promise<(SelectedBackend & { threads: number }) | null> {
  const addon = loadOnednn();
  if (!addon) return null;
  await activateWasm();
  installOnednnKernels(addon);
  const threads = options.threads ?? allowedCpus()?.length ?? 1;
  setOnednnThreads(threads);
  return { name: 'onednn', source: `oneDNN ${addon.version()} (fleet's addon)`, threads };
}

async function activateWasm(): Promise<SelectedBackend> {
  await import('@tensorflow/tfjs-backend-wasm');
  uninstallOnednnKernels();
  installWasmKernels();
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailableError('wasm', 'backend failed to initialise');
  await tf.ready();
  return { name: tf.getBackend(), source: '@tensorflow/tfjs-backend-wasm' };
}

async function activateCpu(): Promise<SelectedBackend> {
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError('cpu', 'backend failed to initialise');
  await tf.ready();
  return { name: tf.getBackend(), source: 'builtin' };
}
