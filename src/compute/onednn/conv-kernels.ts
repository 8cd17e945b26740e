import * as tf from '@tensorflow/tfjs';

import { asWasmBackend, heapF32, type WasmBackend } from '../wasm/wasm-backend.js';
import { addon, callReplaced, type KernelArgs } from './kernel-context.js';
import { layoutCode } from './layouts.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * The addon's 17-int geometry for an NHWC convolution, or null when the
 * native code does not cover it (NCHW, or padding that does not reproduce
 * tfjs's output size under oneDNN's floor rule).
 */
export function convGeometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): Int32Array | null {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC' && attrs.dataFormat !== 'channelsLast') return null;
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const c = tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const p = c.padInfo;
  const reach = (k: number, d: number): number => (k - 1) * d + 1;
  const floorOut = (size: number, k: number, d: number, s: number, lo: number, hi: number): number =>
    Math.floor((size + lo + hi - reach(k, d)) / s) + 1;
  if (
    floorOut(c.inHeight, c.filterHeight, c.dilationHeight, c.strideHeight, p.top, p.bottom) !== c.outHeight ||
    floorOut(c.inWidth, c.filterWidth, c.dilationWidth, c.strideWidth, p.left, p.right) !== c.outWidth ||
    Math.min(p.top, p.bottom, p.left, p.right) < 0
  ) {
    return null;
  }
  return Int32Array.of(
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.outChannels,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
    c.dilationHeight,
    c.dilationWidth,
  );
}

const outShape = (g: Int32Array): number[] => [g[0], g[4], g[5], g[6]] as number[];
const allFloat = (...ts: tf.TensorInfo[]): boolean => ts.every((t) => t.dtype === 'float32');
const sameShape = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Allocates the output first: later allocations may move the heap under earlier views. */
function runInto(backend: WasmBackend, shape: number[], run: (out: tf.TensorInfo) => void): tf.TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  if (tf.util.sizeFromShape(shape) > 0) run(out);
  return out;
}

function forward(
  backend: WasmBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | null,
  g: Int32Array,
  relu: boolean,
): tf.TensorInfo {
  return runInto(backend, outShape(g), (out) => {
    const b = bias ? heapF32(backend, bias) : null;
    addon().conv2dForward(heapF32(backend, x), heapF32(backend, filter), b, heapF32(backend, out), g, relu, layoutCode('forward', g));
  });
}

export function conv2dKernel(args: KernelArgs): tf.TensorInfo {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const g = allFloat(x, filter) ? convGeometry(x.shape, filter.shape, args.attrs as unknown as ConvAttrs) : null;
  if (!g) return callReplaced('Conv2D', args);
  return forward(asWasmBackend(args.backend), x, filter, null, g, false);
}

/** A bias the native code adds: one value per output channel. */
function channelBias(bias: tf.TensorInfo | undefined, channels: number): boolean {
  if (bias === undefined) return true;
  const s = bias.shape;
  return bias.dtype === 'float32' && s.length >= 1 && s[s.length - 1] === channels && s.slice(0, -1).every((d) => d === 1);
}

/** FusedConv2D with bias and linear/relu; other activations and PReLU weights go to the wasm kernel. */
export function fusedConv2dKernel(args: KernelArgs): tf.TensorInfo {
  const { x, filter, bias, preluActivationWeights } = args.inputs as {
    x: tf.TensorInfo;
    filter: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const attrs = args.attrs as unknown as ConvAttrs & { activation?: string };
  const activation = attrs.activation ?? 'linear';
  const supported =
    allFloat(x, filter) &&
    preluActivationWeights === undefined &&
    (activation === 'linear' || activation === 'relu') &&
    channelBias(bias, filter.shape[3] as number);
  const g = supported ? convGeometry(x.shape, filter.shape, attrs) : null;
  if (!g) return callReplaced('FusedConv2D', args);
  return forward(asWasmBackend(args.backend), x, filter, bias ?? null, g, activation === 'relu');
}

export function conv2dBackpropInputKernel(args: KernelArgs): tf.TensorInfo {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
  const g = allFloat(dy, filter) ? convGeometry(attrs.inputShape, filter.shape, attrs) : null;
  if (!g || !sameShape(outShape(g), dy.shape)) return callReplaced('Conv2DBackpropInput', args);
  const backend = asWasmBackend(args.backend);
  return runInto(backend, attrs.inputShape, (dx) =>
    addon().conv2dBackwardData(heapF32(backend, dy), heapF32(backend, filter), heapF32(backend, dx), g, layoutCode('backwardData', g)),
  );
}

export function conv2dBackpropFilterKernel(args: KernelArgs): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
  const g = allFloat(x, dy) ? convGeometry(x.shape, attrs.filterShape, attrs) : null;
  if (!g || !sameShape(outShape(g), dy.shape)) return callReplaced('Conv2DBackpropFilter', args);
  const backend = asWasmBackend(args.backend);
  return runInto(backend, attrs.filterShape, (dw) =>
    addon().conv2dBackwardWeights(heapF32(backend, x), heapF32(backend, dy), heapF32(backend, dw), g, layoutCode('backwardWeights', g)),
  );
}
