import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The native addon's functions (native/addon.cc). Every kernel is synchronous
 * and writes its output array in place; arrays are Float32Array views of the
 * wasm heap, taken after every allocation of the call (the heap can move).
 */
export interface OnednnAddon {
  /** oneDNN's version, e.g. "2.6.3". */
  version(): string;
  setThreads(n: number): void;
  getThreads(): number;
  /** Cached primitives, all shapes and ops together. */
  cacheSize(): number;
  clearCache(): void;
  /**
   * geometry (Int32Array of 17): batch, inH, inW, inC, outH, outW, outC, kH,
   * kW, strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH,
   * dilationW. layout: 0 plain NHWC/HWIO, 1 oneDNN's blocked layouts with
   * reorders in and out, 2 NHWC activations with a blocked filter, 3 layouts
   * and algorithm (Winograd or direct) left to oneDNN (layouts.ts).
   */
  conv2dForward(
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
    geometry: Int32Array,
    relu: boolean,
    layout: number,
  ): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, geometry: Int32Array, layout: number): void;
  conv2dBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: Int32Array, layout: number): void;
  /** geometry (Int32Array of 7): batchA, batchB, M, K, N, transposeA, transposeB. */
  matmul(a: Float32Array, b: Float32Array, bias: Float32Array | null, c: Float32Array, geometry: Int32Array, relu: boolean): void;
  /** geometry (Int32Array of 12): batch, inH, inW, C, outH, outW, filterH, filterW, strideH, strideW, padTop, padLeft. */
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, geometry: Int32Array): void;
  /** y = (x - centre[c]) * factor[c] + offset[c] over x as [rows, channels]. */
  batchNormApply(
    x: Float32Array,
    centre: Float32Array,
    factor: Float32Array,
    offset: Float32Array | null,
    y: Float32Array,
    channels: number,
  ): void;
}

const ADDON_FILE = 'build/Release/fleet_onednn.node';

/** Where the built addon may be: beside this module (ts sources) or, from dist/, in the source tree. */
function candidates(): string[] {
  return [new URL(`./${ADDON_FILE}`, import.meta.url), new URL(`../../../../src/compute/onednn/${ADDON_FILE}`, import.meta.url)].map((u) =>
    fileURLToPath(u),
  );
}

let loaded: OnednnAddon | null | undefined;
let loadError: string | null = null;

/** The addon, or null when it is not built or does not load (see onednnLoadError). Loads once. */
export function loadOnednn(): OnednnAddon | null {
  if (loaded !== undefined) return loaded;
  const path = candidates().find((p) => existsSync(p));
  if (path === undefined) {
    loaded = null;
    loadError = `the oneDNN addon is not built (no ${ADDON_FILE} in src/compute/onednn)`;
    return loaded;
  }
  // OpenMP's threads otherwise spin between parallel regions: on a busy
  // machine they take the CPU from the JS thread and from each other (a step
  // on 2 threads measured 2.8x slower). Read once, when libgomp loads.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  try {
    loaded = createRequire(import.meta.url)(path) as OnednnAddon;
  } catch (err) {
    loaded = null;
    loadError = `the oneDNN addon at ${path} did not load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  return loaded;
}

/** Why loadOnednn returned null; null when it loaded or was not tried. */
export function onednnLoadError(): string | null {
  return loadError;
}
