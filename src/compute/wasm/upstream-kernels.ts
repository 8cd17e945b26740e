import * as tf from '@tensorflow/tfjs';

/**
 * The wasm backend's own kernels, called directly on TensorInfos from inside
 * our kernels (going through tf ops there would create tracked tensors and
 * nest in the tape). Kernels we replace are captured here before replacement so
 * a replacement can still reach the upstream fast path.
 */
const captured = new Map<string, tf.KernelConfig>();

export function captureUpstream(kernelName: string): tf.KernelConfig | undefined {
  const existing = captured.get(kernelName);
  if (existing) return existing;
  const config = tf.getKernel(kernelName, 'wasm');
  if (config) captured.set(kernelName, config);
  return config;
}

export function upstreamConfig(kernelName: string): tf.KernelConfig | undefined {
  return captured.get(kernelName);
}

type Attrs = tf.NamedAttrMap;

export function callUpstream(kernelName: string, backend: object, inputs: tf.NamedTensorInfoMap, attrs: Attrs = {}): tf.TensorInfo {
  const config = captured.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
  if (!config) throw new Error(`wasm kernel ${kernelName} is not registered`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${kernelName} returned several outputs`);
  return out;
}

/** Thin typed wrappers over the upstream kernels our compositions use. */
export const up = {
  conv2d(
    backend: object,
    x: tf.TensorInfo,
    filter: tf.TensorInfo,
    strides: [number, number],
    pad: 'same' | 'valid' | number[][],
    dilations: [number, number] = [1, 1],
  ): tf.TensorInfo {
    return callUpstream(
      'Conv2D',
      backend,
      { x, filter },
      { strides, pad: pad as unknown as string, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined as unknown as string },
    );
  },
  transpose(backend: object, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return callUpstream('Transpose', backend, { x }, { perm });
  },
  reverse(backend: object, x: tf.TensorInfo, dims: number[]): tf.TensorInfo {
    return callUpstream('Reverse', backend, { x }, { dims });
  },
  pad(backend: object, x: tf.TensorInfo, paddings: Array<[number, number]>): tf.TensorInfo {
    return callUpstream('PadV2', backend, { x }, { paddings: paddings as unknown as number[][], constantValue: 0 });
  },
  slice(backend: object, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
    return callUpstream('Slice', backend, { x }, { begin, size });
  },
  addN(backend: object, tensors: tf.TensorInfo[]): tf.TensorInfo {
    const config = tf.getKernel('AddN', 'wasm');
    if (!config) throw new Error('wasm kernel AddN is not registered');
    return config.kernelFunc({ inputs: tensors as unknown as tf.NamedTensorInfoMap, backend, attrs: {} }) as tf.TensorInfo;
  },
  add(backend: object, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return callUpstream('Add', backend, { a, b });
  },
  sub(backend: object, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return callUpstream('Sub', backend, { a, b });
  },
  mul(backend: object, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return callUpstream('Multiply', backend, { a, b });
  },
  batchMatMul(backend: object, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return callUpstream('BatchMatMul', backend, { a, b }, { transposeA: false, transposeB: false });
  },
};
