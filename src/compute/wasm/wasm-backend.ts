import * as tf from '@tensorflow/tfjs';

/** What our kernels need of a tensor's record in the wasm backend. */
export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/**
 * The slice of BackendWasm our kernels use. Declared structurally because the
 * package's own typings pull in emscripten types that are not installed.
 */
export interface WasmBackend {
  wasm: {
    HEAPF32: Float32Array;
    /** The module's exports; `memory` is the WebAssembly.Memory fleet's own SIMD kernels import. */
    asm: { memory: object };
    tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): WasmTensorData | undefined; delete(dataId: object): boolean };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

export function asWasmBackend(backend: unknown): WasmBackend {
  return backend as WasmBackend;
}

export function tensorData(backend: WasmBackend, info: tf.TensorInfo): WasmTensorData {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error(`tensor data ${JSON.stringify(info.shape)} is not on the wasm backend`);
  return data;
}

/** Float32 view of a tensor's bytes in the wasm heap; valid until the heap grows. */
export function heapF32(backend: WasmBackend, info: tf.TensorInfo): Float32Array {
  const { memoryOffset } = tensorData(backend, info);
  const size = tf.util.sizeFromShape(info.shape);
  return backend.wasm.HEAPF32.subarray(memoryOffset >>> 2, (memoryOffset >>> 2) + size);
}

/** The same data under another shape: no copy, no refcount, never dispose it. */
export function reshaped(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/**
 * A tensor id aliasing `size(shape)` floats of `base` from `elementOffset`:
 * lets a kernel run on one chunk of a tensor without copying it. It must be
 * released with disposeView (which never frees the shared memory); releasing it
 * also drops any XNNPACK operator cached on its id.
 */
export function makeView(backend: WasmBackend, base: tf.TensorInfo, elementOffset: number, shape: number[]): tf.TensorInfo {
  const { memoryOffset } = tensorData(backend, base);
  return backend.makeOutput(shape, 'float32', memoryOffset + elementOffset * 4);
}

export function disposeView(backend: WasmBackend, view: tf.TensorInfo): void {
  const data = tensorData(backend, view);
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(view.dataId);
}

/** A copy of `info` under a fresh data id (a plain memcpy in the heap). */
export function copyTensor(backend: WasmBackend, info: tf.TensorInfo): tf.TensorInfo {
  const out = backend.makeOutput(info.shape, info.dtype);
  const src = heapF32(backend, info);
  heapF32(backend, out).set(src);
  return out;
}
