/**
 * One CNN training step (classic CIFAR-10 CNN, batch 128) on the wasm backend:
 * images/s (median, mean +- std over several steps after warm-up), the
 * per-kernel CPU-time split of one profiled step, the step's GFLOP/s, the forward
 * conv2d GFLOP/s on the model's own conv shapes measured in the same run, and
 * their ratio. Modes run interleaved step by step, so they see the same load:
 *   upstream  upstream kernels + only the missing filter gradient (unchunked),
 *             tfjs's own BatchNormalization
 *   untuned   composed conv gradients with the unchunked 'batch' filter
 *             gradient, fixed matMuls, fleet BatchNorm; upstream
 *             Sum/Mean/MaxPoolGrad/Identity (the compositions WASM-NOTES lists)
 *   wide      every fleet kernel, both conv gradients as XNNPACK convolutions
 *             (the filter gradient chunked, 'wide' layout): the reference the
 *             SIMD conv kernels are measured against
 *   filter    as wide, but the filter gradient on fleet's SIMD kernel
 *   fleet     every fleet kernel as installed (both conv gradients on fleet's
 *             SIMD kernels, filter-grad-simd.ts and input-grad-simd.ts, and
 *             MaxPoolGrad's; wide and filter keep MaxPoolGrad's JS loop)
 * Step times are taken on the wall clock and in CPU time (user + system of
 * the process; wasm runs on one thread): on a machine loaded past its cores
 * the wall clock mostly counts waiting for a core, so the fraction of the
 * forward conv rate is given on both clocks, each against the forward conv
 * measured on the same clock in the same round.
 *   npm run build && node dist/bench/step-profile.js
 * FLEET_BENCH_MODES (wide,fleet), FLEET_BENCH_STEPS (5), FLEET_BENCH_BATCH (128).
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';

import { installWasmKernels, useWasmKernels } from '../src/compute/index.js';
import {
  getFilterGradChunk,
  getFilterGradLayout,
  setFilterGradChunk,
  setFilterGradLayout,
  type FilterGradChunk,
  type FilterGradLayout,
} from '../src/compute/wasm/conv2d-backprop-filter.js';
import { getInputGradLayout, setInputGradLayout, type InputGradLayout } from '../src/compute/wasm/conv2d-backprop-input.js';
import { setMaxPoolGradPath } from '../src/compute/wasm/max-pool-grad.js';
import { IMAGE_SHAPE, NUM_CLASSES } from '../src/dataset/cifar10-constants.js';
import { buildModel } from '../src/model/index.js';
import { CNN_CONV_SHAPES, convFlops, isMain, meanStd, median } from './kernel-conv-shapes.js';
import { gitSha } from './git-sha.js';
import { benchCommand, figureOf, recordFigure, type Figure } from './figures.js';

/** FLOPs of one training image of the CNN (3x forward, less the input layer's dx). */
export const CNN_TRAIN_FLOPS_PER_IMAGE = 925.7e6;

const MODES = ['upstream', 'untuned', 'wide', 'filter', 'fleet'] as const;
type Mode = (typeof MODES)[number];

interface Runner {
  mode: Mode;
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  stepMs: number[];
  stepCpuMs: number[];
}

/** Wall and CPU milliseconds of `f`. */
function timed(f: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

/** The CNN from raw tf.layers with tfjs's BatchNormalization (the upstream mode's model). */
export function rawCnn(numClasses = NUM_CLASSES): tf.LayersModel {
  const input = tf.input({ shape: [...IMAGE_SHAPE] });
  let x: tf.SymbolicTensor = input;
  for (const filters of [64, 128, 256]) {
    for (let j = 0; j < 2; j++) {
      x = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5 }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    }
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 0.25, noiseShape: [null, 1, 1, null] as unknown as number[] }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 512, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.5 }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: numClasses }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

/** Kernel registrations of a mode; the bench switches them between steps. */
function enterMode(mode: Mode, tuned: { chunk: FilterGradChunk; layout: FilterGradLayout; input: InputGradLayout }): void {
  setInputGradLayout(mode === 'fleet' ? tuned.input : 'xnnpack');
  setMaxPoolGradPath(mode === 'fleet' ? 'simd' : 'js');
  if (mode === 'upstream') {
    useWasmKernels(['Conv2DBackpropFilter']);
    setFilterGradChunk('all');
    setFilterGradLayout('batch');
  } else if (mode === 'untuned') {
    // Compositions only (WASM-NOTES): composed conv gradients, unchunked
    // filter gradient, fixed matMuls, closed-form BN.
    useWasmKernels(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', '_FusedMatMul']);
    setFilterGradChunk('all');
    setFilterGradLayout('batch');
  } else if (mode === 'wide') {
    installWasmKernels();
    setFilterGradChunk('auto');
    setFilterGradLayout('wide');
  } else if (mode === 'filter') {
    installWasmKernels();
    setFilterGradChunk(tuned.chunk);
    setFilterGradLayout(tuned.layout);
  } else {
    installWasmKernels();
    setFilterGradChunk(tuned.chunk);
    setFilterGradLayout(tuned.layout);
  }
}

function trainStep(r: Runner, x: tf.Tensor, y: tf.Tensor): void {
  const loss = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, r.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    );
    r.optimizer.applyGradients(grads);
    return value;
  });
  loss.dataSync();
  loss.dispose();
}

/** Forward conv2d over the CNN's six conv shapes: total FLOPs / total time, on both clocks. */
function forwardConvGflops(batch: number, tensors: Array<{ x: tf.Tensor4D; w: tf.Tensor4D }>): { wall: number; cpu: number } {
  let flops = 0;
  let wall = 0;
  let cpu = 0;
  CNN_CONV_SHAPES.forEach((s, i) => {
    const t = tensors[i];
    if (!t) return;
    const ms = timed(() => tf.conv2d(t.x, t.w, 1, 'same').dispose());
    wall += ms.wall;
    cpu += ms.cpu;
    flops += convFlops(s, batch);
  });
  return { wall: flops / wall / 1e6, cpu: flops / cpu / 1e6 };
}

interface KernelRow {
  name: string;
  calls: number;
  ms: number;
}

/**
 * One step with every wasm kernel wrapped to take its CPU time (user +
 * system of the process, so other load on the machine hardly counts). A
 * kernel that calls others (ours call upstream kernels) is timed as a whole:
 * only the outermost call is counted. The wrappers are removed afterwards.
 */
function profileStep(r: Runner, x: tf.Tensor, y: tf.Tensor): { rows: KernelRow[]; stepMs: number } {
  const originals = tf.getKernelsForBackend('wasm');
  const byName = new Map<string, KernelRow>();
  let depth = 0;
  for (const k of originals) {
    const row: KernelRow = { name: k.kernelName, calls: 0, ms: 0 };
    byName.set(k.kernelName, row);
    const kernelFunc: tf.KernelFunc = (args) => {
      if (depth > 0) return k.kernelFunc(args);
      depth++;
      const c0 = process.cpuUsage();
      try {
        return k.kernelFunc(args);
      } finally {
        const c = process.cpuUsage(c0);
        depth--;
        row.calls += 1;
        row.ms += (c.user + c.system) / 1000;
      }
    };
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({ ...k, kernelFunc });
  }
  let stepMs = 0;
  try {
    stepMs = timed(() => trainStep(r, x, y)).cpu;
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, 'wasm');
      tf.registerKernel(k);
    }
  }
  const rows = [...byName.values()].filter((k) => k.calls > 0).sort((a, b) => b.ms - a.ms);
  return { rows, stepMs };
}

export async function run(): Promise<void> {
  const batch = Number(process.env.FLEET_BENCH_BATCH ?? 128);
  const steps = Number(process.env.FLEET_BENCH_STEPS ?? 5);
  const modes = (process.env.FLEET_BENCH_MODES ?? 'wide,fleet').split(',') as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`FLEET_BENCH_MODES: unknown mode '${m}' (${MODES.join(', ')})`);
  installWasmKernels();
  const tunedChunk = { chunk: getFilterGradChunk(), layout: getFilterGradLayout(), input: getInputGradLayout() };
  await tf.setBackend('wasm');
  await tf.ready();
  console.log(
    `step-profile: cnn, batch ${batch}, backend ${tf.getBackend()}, 1 process, ${steps} measured steps after 1 warm-up, modes ${modes.join(',')}, git ${gitSha()}, node ${process.version}`,
  );

  const x = tf.randomUniform([batch, ...IMAGE_SHAPE], -1, 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32') as tf.Tensor1D, 10);
  const runners: Runner[] = modes.map((mode) => ({
    mode,
    model: mode === 'upstream' ? rawCnn() : buildModel({ name: 'cnn', seed: 1 }),
    optimizer: tf.train.momentum(0.01, 0.9),
    stepMs: [],
    stepCpuMs: [],
  }));
  const convTensors = CNN_CONV_SHAPES.map((s) => ({
    x: tf.randomUniform([batch, s.height, s.width, s.inChannels]) as tf.Tensor4D,
    w: tf.randomUniform([3, 3, s.inChannels, s.outChannels]) as tf.Tensor4D,
  }));
  const convRates: number[] = [];
  const convCpuRates: number[] = [];

  for (const r of runners) {
    enterMode(r.mode, tunedChunk);
    trainStep(r, x, y); // warm-up: builds weights, optimizer slots, XNNPACK operators
  }
  forwardConvGflops(batch, convTensors);
  const tensorsBefore = tf.memory().numTensors;
  for (let s = 0; s < steps; s++) {
    for (const r of runners) {
      enterMode(r.mode, tunedChunk);
      const ms = timed(() => trainStep(r, x, y));
      r.stepMs.push(ms.wall);
      r.stepCpuMs.push(ms.cpu);
    }
    const rate = forwardConvGflops(batch, convTensors);
    convRates.push(rate.wall);
    convCpuRates.push(rate.cpu);
  }
  const leaked = tf.memory().numTensors - tensorsBefore;
  const convRate = median(convRates);
  const convStats = meanStd(convRates);

  const convCpu = meanStd(convCpuRates);
  console.log(
    `\nforward conv2d on the model's 6 conv shapes: ${convRate.toFixed(2)} GFLOP/s median (${convStats.mean.toFixed(2)} +- ${convStats.std.toFixed(2)}, n=${convRates.length}); CPU time: ${median(convCpuRates).toFixed(2)} (${convCpu.mean.toFixed(2)} +- ${convCpu.std.toFixed(2)})`,
  );
  console.log(
    'mode\timages/s median\timages/s mean +- std\tstep ms median\tstep GFLOP/s\tfraction of forward conv\tCPU: step ms median\tCPU: fraction mean +- std',
  );
  // Per step: the step's GFLOP/s over the forward conv's of the same round, on the same clock.
  const fractions = (stepMs: number[], rates: number[]): number[] =>
    stepMs.map((ms, i) => (batch * CNN_TRAIN_FLOPS_PER_IMAGE) / ms / 1e6 / (rates[i] as number));
  const results = runners.map((r) => {
    const ips = r.stepMs.map((ms) => (batch * 1000) / ms);
    const { mean, std } = meanStd(ips);
    const med = median(ips);
    const gflops = (med * CNN_TRAIN_FLOPS_PER_IMAGE) / 1e9;
    const wall = fractions(r.stepMs, convRates);
    const cpu = fractions(r.stepCpuMs, convCpuRates);
    const cpuStats = meanStd(cpu);
    console.log(
      `${r.mode}\t${med.toFixed(2)}\t${mean.toFixed(2)} +- ${std.toFixed(2)}\t${median(r.stepMs).toFixed(0)}\t${gflops.toFixed(2)}\t${(gflops / convRate).toFixed(3)}\t${median(r.stepCpuMs).toFixed(0)}\t${cpuStats.mean.toFixed(3)} +- ${cpuStats.std.toFixed(3)}`,
    );
    return { mode: r.mode, ips, wall, cpu };
  });
  console.log(`live tensors after ${steps} rounds of steps: ${leaked >= 0 ? '+' : ''}${leaked}`);

  const splits = new Map<Mode, string>();
  for (const r of runners) {
    enterMode(r.mode, tunedChunk);
    const { rows, stepMs } = profileStep(r, x, y);
    splits.set(r.mode, splitSummary(rows, stepMs));
    const total = rows.reduce((a, k) => a + k.ms, 0);
    console.log(`\nper-kernel split (CPU time), mode ${r.mode}: profiled step ${stepMs.toFixed(0)} ms, kernels ${total.toFixed(0)} ms`);
    console.log('kernel\tcalls\tCPU ms\t% of step');
    for (const k of rows) {
      if (k.ms < 0.005 * total) continue;
      console.log(`${k.name}\t${k.calls}\t${k.ms.toFixed(1)}\t${((100 * k.ms) / stepMs).toFixed(1)}`);
    }
    const rest = rows.filter((k) => k.ms < 0.005 * total);
    console.log(
      `(${rest.length} other kernels)\t${rest.reduce((a, k) => a + k.calls, 0)}\t${rest.reduce((a, k) => a + k.ms, 0).toFixed(1)}\t${((100 * rest.reduce((a, k) => a + k.ms, 0)) / stepMs).toFixed(1)}`,
    );
    console.log(
      `(outside kernels: tape, optimizer, JS)\t\t${(stepMs - total).toFixed(1)}\t${((100 * (stepMs - total)) / stepMs).toFixed(1)}`,
    );
  }
  tf.dispose([x, y, ...convTensors.flatMap((t) => [t.x, t.w])]);
  for (const r of runners) r.model.dispose();

  const bench = 'step-profile';
  const command = benchCommand(bench);
  const wide = results.find((r) => r.mode === 'wide');
  for (const r of results) {
    const isFleet = r.mode === 'fleet';
    const goal = isFleet ? { goal: { of: 'mean' as const, op: '>=' as const, value: 0.85 } } : {};
    const limits = `per-kernel split of a profiled ${r.mode} step: ${splits.get(r.mode) ?? 'not profiled'}`;
    const ref = (values: (b: (typeof results)[number]) => number[], name: string) =>
      isFleet && wide ? { reference: { name, mean: meanStd(values(wide)).mean } } : {};
    const label = `cnn batch ${batch}, 1 process, ${r.mode} kernels`;
    show(
      figureOf(
        {
          bench,
          name: `${label}: step GFLOP/s as a fraction of forward conv2d GFLOP/s, CPU time (n = steps)`,
          unit: 'ratio',
          ...ref((b) => b.cpu, 'wide (conv gradients as XNNPACK convolutions), same run'),
          ...goal,
          limits,
          command,
        },
        r.cpu,
      ),
    );
    show(
      figureOf(
        {
          bench,
          name: `${label}: step GFLOP/s as a fraction of forward conv2d GFLOP/s, wall clock (n = steps)`,
          unit: 'ratio',
          ...ref((b) => b.wall, 'wide (conv gradients as XNNPACK convolutions), same run'),
          ...goal,
          limits: `${limits}; the wall clock also counts waiting for a core on a loaded machine`,
          command,
        },
        r.wall,
      ),
    );
    show(
      figureOf(
        {
          bench,
          name: `${label}: training images/s, wall clock (n = steps)`,
          unit: 'images/s',
          ...ref((b) => b.ips, 'wide (conv gradients as XNNPACK convolutions), same run'),
          limits,
          command,
        },
        r.ips,
      ),
    );
  }
}

/** Records a figure for run-all and prints it. */
function show(f: Figure): void {
  recordFigure(f);
  const goal = f.goal ? `, goal ${f.goal.of} ${f.goal.op} ${f.goal.value}` : '';
  const ref = f.reference ? `, ${f.reference.ratio.toFixed(3)}x ${f.reference.name} (${f.reference.mean.toFixed(3)})` : '';
  console.log(`figure: ${f.name}: ${f.mean.toFixed(3)} +- ${f.std.toFixed(3)} ${f.unit}, n=${f.n}${ref}${goal}`);
}

/** The conv kernels' shares of a profiled step and the rest, for a figure's `limits`. */
function splitSummary(rows: KernelRow[], stepMs: number): string {
  const pct = (name: string): number => (100 * (rows.find((k) => k.name === name)?.ms ?? 0)) / stepMs;
  const named = ['FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'];
  const rest = 100 - named.reduce((a, n) => a + pct(n), 0);
  const top = rows
    .filter((k) => !named.includes(k.name))
    .slice(0, 3)
    .map((k) => `${k.name} ${((100 * k.ms) / stepMs).toFixed(1)}%`)
    .join(', ');
  return `forward conv ${pct('FusedConv2D').toFixed(1)}%, filter gradient ${pct('Conv2DBackpropFilter').toFixed(1)}%, input gradient ${pct('Conv2DBackpropInput').toFixed(1)}%, everything else ${rest.toFixed(1)}% (largest: ${top}); the other kernels do next to none of the step's FLOPs, so with every conv at the forward rate the fraction would be about 1 - their share`;
}

if (isMain(import.meta.url)) await run();
