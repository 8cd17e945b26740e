/**
 * Filter-gradient variants and the input gradient (XNNPACK and fleet's SIMD
 * kernel) against the forward conv2d on the CNN's conv
 * shapes, on wasm, interleaved in one run (the machine is shared: compare
 * side by side). Prints GFLOP/s per shape and variant.
 *   npm run build && node dist/bench/kernel-filter-grad.js
 * FLEET_BENCH_BATCH (128), FLEET_BENCH_REPS (5), FLEET_BENCH_CLOCK (wall; cpu), FLEET_BENCH_VARIANTS (layout:chunk list,
 * e.g. "batch:16,wide:32,simd,simd:48/128": simd's is <L1 KiB>/<channels a block>), FLEET_BENCH_SHAPES (conv names, e.g. "block1_conv2").
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';

import { installWasmKernels } from '../src/compute/index.js';
import {
  getFilterGradLayout,
  setFilterGradChunk,
  setFilterGradLayout,
  shapeKey,
  type FilterGradChunk,
  type FilterGradLayout,
} from '../src/compute/wasm/conv2d-backprop-filter.js';
import { convGeometry } from '../src/compute/wasm/conv-geometry.js';
import { getInputGradLayout, setInputGradLayout, type InputGradLayout } from '../src/compute/wasm/conv2d-backprop-input.js';
import { getFilterGradBlocking, setFilterGradBlocking } from '../src/compute/wasm/filter-grad-simd.js';
import { CNN_CONV_SHAPES, convFlops, isMain, median, type ConvShape } from './kernel-conv-shapes.js';

/**
 * Wall time, or with FLEET_BENCH_CLOCK=cpu the process's CPU time (user +
 * system): on a machine loaded past its cores the wall time mostly measures
 * waiting for a core; wasm runs on one thread, so CPU time is the kernel's.
 */
const cpuClock = process.env.FLEET_BENCH_CLOCK === 'cpu';
function timeMs(f: () => void): number {
  if (cpuClock) {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  }
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

function filterKey(s: ConvShape, batch: number): string {
  return shapeKey(
    convGeometry('bench', [batch, s.height, s.width, s.inChannels], [3, 3, s.inChannels, s.outChannels], 1, 'same', 'NHWC', undefined),
  );
}

export async function run(): Promise<void> {
  const batch = Number(process.env.FLEET_BENCH_BATCH ?? 128);
  const reps = Number(process.env.FLEET_BENCH_REPS ?? 5);
  const defaultBlocking = getFilterGradBlocking();
  const variantSpecs = (process.env.FLEET_BENCH_VARIANTS ?? 'batch:all,batch:16,wide:auto,wide:32,wide:16,wide:8,wide:4')
    .split(',')
    .map((v) => {
      const [layout, chunk = 'auto'] = v.split(':');
      // simd:<L1 KiB>/<channels> sets the simd kernel's blocking (default as installed).
      const [kib, channels] = chunk.split('/').map(Number);
      const block = layout === 'simd' && kib && channels ? { l1Bytes: kib * 1024, channels } : defaultBlocking;
      const parsed: FilterGradChunk = chunk === 'auto' || chunk === 'all' || layout === 'simd' ? 'auto' : Number(chunk);
      return { layout: layout as FilterGradLayout, chunk: parsed, block, label: `${layout}:${chunk}` };
    });
  const initialLayout = getFilterGradLayout();
  const initialInputLayout = getInputGradLayout();
  installWasmKernels();
  await tf.setBackend('wasm');
  await tf.ready();
  console.log(`backend wasm, batch ${batch}, median of ${reps}, ${cpuClock ? 'CPU' : 'wall'} time; GFLOP/s (ms)`);
  console.log(['shape', 'forward', 'input xnnpack', 'input simd', ...variantSpecs.map((v) => `filter ${v.label}`)].join('\t'));
  const only = process.env.FLEET_BENCH_SHAPES?.split(',');
  for (const s of CNN_CONV_SHAPES.filter((c) => !only || only.includes(c.name))) {
    const x = tf.randomUniform([batch, s.height, s.width, s.inChannels]) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, s.inChannels, s.outChannels]) as tf.Tensor4D;
    const dy = tf.randomUniform([batch, s.height, s.width, s.outChannels]) as tf.Tensor4D;
    const key = filterKey(s, batch);
    const variants: Array<[string, () => void]> = [
      ['forward', () => tf.conv2d(x, w, 1, 'same').dispose()],
      ...(['xnnpack', 'simd'] as InputGradLayout[]).map((l): [string, () => void] => [
        `input ${l}`,
        () => {
          setInputGradLayout(l);
          tf.conv2dTranspose(dy, w, x.shape, 1, 'same').dispose();
        },
      ]),
      ...variantSpecs.map(({ layout, chunk, block, label }): [string, () => void] => [
        label,
        () => {
          setFilterGradLayout(layout);
          setFilterGradBlocking(block);
          setFilterGradChunk(chunk, key);
          const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: w.shape };
          (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor).dispose();
        },
      ]),
    ];
    const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
    for (const [, f] of variants) f(); // warm-up
    for (let r = 0; r < reps; r++) for (const [n, f] of variants) times.get(n)?.push(timeMs(f));
    const flops = convFlops(s, batch);
    const cells = variants.map(([n]) => {
      const ms = median(times.get(n) ?? []);
      return `${(flops / ms / 1e6).toFixed(1)} (${ms.toFixed(0)})`;
    });
    console.log([s.name, ...cells].join('\t'));
    tf.dispose([x, w, dy]);
  }
  setFilterGradLayout(initialLayout);
  setFilterGradBlocking(defaultBlocking);
  setInputGradLayout(initialInputLayout);
}

if (isMain(import.meta.url)) await run();
