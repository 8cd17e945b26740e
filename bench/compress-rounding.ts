/**
 * The rounding of --compress, measured on real tensors: the cnn after a few
 * SGD steps on CIFAR-10 (its parameters, the gradients of two batches of
 * 64, and the parameter change of two workers' 4 local steps), each sent
 * through float16 and bfloat16 rounded to nearest (ties to even) and
 * stochastically.
 *
 * 1. One transfer: relative L2 error, the share of nonzero values flushed
 *    to zero, the share below float16's normal range.
 * 2. Many rounds of each exchange whose rounding stays in the result:
 *    gradients (--sync-every 1: the float32 master sums the decoded
 *    averages) and local SGD's parameters (--sync-every K: the master
 *    becomes the average of the decoded parameters, every round). The two
 *    workers' updates are the measured ones, either the same every round
 *    (the worst case for rounding to nearest, whose error then repeats) or
 *    a new blend of them each round; local SGD's also at 1/100 of their
 *    size, as at the tail of a cosine schedule. Reported over the trainable
 *    values: the share of the exact displacement the master made, and its
 *    error relative to it.
 * 3. Encoding and decoding time per float, over the model's size.
 * 4. The bytes a round of 2 workers moves with none, fp16 and bf16, as the
 *    coordinator's exchange counter counts them (tensor data; exchange-round's
 *    round, the model's tensor set): each format against none, goal <= 0.5
 *    plus 1% (the manifest and framing, not counted, do not shrink).
 *
 * FLEET_BENCH_DATA (../shared/cifar10), FLEET_BENCH_ROUNDS (20; the table of docs/benchmark-history.md had 50), FLEET_BENCH_MODEL (cnn).
 */
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { IMAGE_SHAPE, NUM_CLASSES } from '../src/dataset/cifar10-constants.js';
import { loadCifar10Split } from '../src/dataset/index.js';
import { buildModel } from '../src/model/index.js';
import { selectBackend } from '../src/compute/index.js';
import { layoutLength, readGradientContribution, readWeights, weightLayout, writeWeights } from '../src/training/flat-weights.js';
import { trainableParameters } from '../src/training/model-parameters.js';
import { SgdMomentum } from '../src/training/sgd-momentum.js';
import { TrainBatchMaker } from '../src/training/train-batch.js';
import { computeGradients } from '../src/training/train-step.js';
import { epochPermutation } from '../src/training/epoch-order.js';
import { RoundingStream, decodeHalf, encodeHalf, roundingSeed, type HalfDtype, type Rounding } from '../src/exchange/index.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';
import { compressedRounds } from './exchange-round.js';
import { mulberry32 } from '../src/runtime/seeded-random.js';

const MODEL = (process.env.FLEET_BENCH_MODEL ?? 'cnn') as 'cnn' | 'resnet18';
const BATCH = 64;
const LR = 0.02;
const WARMUP_STEPS = 20;
const LOCAL_STEPS = 4;
const FORMATS: [HalfDtype, Rounding][] = [
  ['float16', 'nearest'],
  ['float16', 'stochastic'],
  ['bfloat16', 'nearest'],
  ['bfloat16', 'stochastic'],
];

/** `values` through the format and back, as a worker's transfer of round `round` (the stochastic draws keyed as fleet keys them). */
function transfer(values: Float32Array, dtype: HalfDtype, rounding: Rounding, round: number, sender: number): Float32Array {
  const halves = new Uint16Array(values.length);
  const stream = new RoundingStream(roundingSeed({ seed: 1, round, sender }, 'bench'));
  encodeHalf(dtype, new Uint32Array(values.buffer, values.byteOffset, values.length), halves, rounding, stream);
  const out = new Float32Array(values.length);
  decodeHalf(dtype, halves, new Uint32Array(out.buffer));
  return out;
}

function norm(v: Float32Array | Float64Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function relError(got: Float32Array | Float64Array, want: Float32Array | Float64Array): number {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += (got[i]! - want[i]!) ** 2;
  return Math.sqrt(s) / norm(want);
}

/** One transfer of `v`: relative L2 error, nonzero values flushed to zero, values below float16's normal range (2^-14). */
function oneTransfer(v: Float32Array, dtype: HalfDtype, rounding: Rounding): { error: number; flushed: number; subnormal: number } {
  const back = transfer(v, dtype, rounding, 1, 0);
  let flushed = 0;
  let nonzero = 0;
  let subnormal = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === 0) continue;
    nonzero++;
    if (back[i] === 0) flushed++;
    if (Math.abs(v[i]!) < 2 ** -14) subnormal++;
  }
  return { error: relError(back, v), flushed: flushed / nonzero, subnormal: subnormal / nonzero };
}

/** One exchange of the many-rounds table: what travels, whether the updates change from round to round, their scale. */
interface Exchange {
  kind: 'gradients' | 'parameters';
  /** fixed: the same two updates every round (rounding to nearest then repeats its error); varying: a new mix of them each round. */
  updates: 'fixed' | 'varying';
  /** The updates times this (0.01: local steps at the tail of a cosine schedule, lr / 100). */
  scale: number;
}

/**
 * R rounds of 2 workers. gradients: the master adds lr x the average of the
 * decoded gradients (float32, as the coordinator's SGD). parameters: the
 * master becomes the average of the decoded w + d_i (BatchNorm statistics
 * included, as on the wire). Over the trainable values (`trainable`: 1
 * where trainable), returns the share of the exact displacement the master
 * made (its projection on it) and its error, relative to it.
 */
function manyRounds(
  ex: Exchange,
  w0: Float32Array,
  d: [Float32Array, Float32Array],
  trainable: Uint8Array,
  rounds: number,
  dtype: HalfDtype,
  rounding: Rounding,
): { kept: number; error: number } {
  const n = w0.length;
  const mix = mulberry32(5);
  const exact = new Float64Array(n);
  const w = Float32Array.from(w0);
  const next = new Float32Array(n);
  const u: [Float32Array, Float32Array] = [new Float32Array(n), new Float32Array(n)];
  for (let r = 0; r < rounds; r++) {
    // Varying: each worker's update a fresh blend of the two measured ones.
    const a = ex.updates === 'fixed' ? [1, 0] : [mix(), mix()];
    for (let i = 0; i < n; i++) {
      u[0][i] = ex.scale * (a[0]! * d[0][i]! + (1 - a[0]!) * d[1][i]!);
      u[1][i] = ex.scale * (ex.updates === 'fixed' ? d[1][i]! : a[1]! * d[1][i]! + (1 - a[1]!) * d[0][i]!);
      exact[i] = exact[i]! + ((ex.kind === 'gradients' ? LR : 1) * (u[0][i]! + u[1][i]!)) / 2;
    }
    const sent = u.map((ui, sender) => {
      if (ex.kind === 'gradients') return transfer(ui, dtype, rounding, r, sender);
      const local = new Float32Array(n);
      for (let i = 0; i < n; i++) local[i] = w[i]! + ui[i]!;
      return transfer(local, dtype, rounding, r, sender);
    });
    for (let i = 0; i < n; i++)
      next[i] = ex.kind === 'gradients' ? w[i]! + (LR * (sent[0]![i]! + sent[1]![i]!)) / 2 : (sent[0]![i]! + sent[1]![i]!) / 2;
    w.set(next);
  }
  let dot = 0;
  let exactSq = 0;
  let errSq = 0;
  for (let i = 0; i < n; i++) {
    if (!trainable[i]) continue;
    const moved = w[i]! - w0[i]!;
    dot += moved * exact[i]!;
    exactSq += exact[i]! * exact[i]!;
    errSq += (moved - exact[i]!) ** 2;
  }
  return { kept: dot / exactSq, error: Math.sqrt(errSq / exactSq) };
}

/** The bytes a 2-worker round moves per format (a real coordinator server and 2 gRPC clients), against none's. */
async function roundBytes(command: string): Promise<void> {
  const bench = 'compress-rounding';
  const workers = 2;
  const rounds = 3;
  const results = await compressedRounds(MODEL, workers, rounds, ['none', 'fp16', 'bf16']);
  const none = results.get('none')!;
  console.log(`\n${MODEL}, ${workers} workers, ${rounds} rounds on loopback\t--compress\tMB a round (server's count)\tx none\tround ms`);
  for (const [format, r] of results) {
    const { mean, std } = meanStd(r.roundMs);
    console.log(
      [
        '',
        format,
        (r.wireBytesPerRound / 1e6).toFixed(3),
        (r.wireBytesPerRound / none.wireBytesPerRound).toFixed(4),
        `${mean.toFixed(0)} +- ${std.toFixed(0)}`,
      ].join('\t'),
    );
    const name = `${MODEL}, ${workers} workers, --compress ${format}`;
    const reference =
      format === 'none' ? {} : { reference: { name: 'the same round with --compress none', mean: none.wireBytesPerRound / 1e6 } };
    recordFigure(
      figureOf(
        {
          bench,
          name: `${name}: tensor MB a round moved, by the coordinator's exchange counter (data only, not the manifest or gRPC framing; n=1: the mean over ${rounds} rounds)`,
          unit: 'MB',
          ...reference,
          ...(format === 'none' ? {} : { goal: { of: 'ratio' as const, op: '<=' as const, value: 0.505 } }),
          limits:
            format === 'none'
              ? undefined
              : '16-bit values are half the float32 data; the manifest and the framing, not counted here, do not shrink',
          command,
        },
        [r.wireBytesPerRound / 1e6],
      ),
    );
    recordFigure(
      figureOf(
        {
          bench,
          name: `${name}: round time on loopback (n = rounds)`,
          unit: 'ms',
          ...(format === 'none' ? {} : { reference: { name: 'the same round with --compress none', mean: meanStd(none.roundMs).mean } }),
          limits: "loopback: the bytes cost CPU (gRPC's copies, the coordinator's thread), not a link's time",
          command,
        },
        r.roundMs,
      ),
    );
  }
}

export async function run(): Promise<void> {
  const command = benchCommand('compress-rounding');
  await roundBytes(command);
  const dataDir = process.env.FLEET_BENCH_DATA ?? fileURLToPath(new URL('../../../shared/cifar10', import.meta.url));
  const rounds = Number(process.env.FLEET_BENCH_ROUNDS ?? 20);
  const backend = await selectBackend('auto', undefined, { threads: 1 });
  const split = await loadCifar10Split({
    dir: dataDir,
    split: 'train',
    allowPartial: true,
    limit: BATCH * (WARMUP_STEPS + 2 * LOCAL_STEPS + 2),
  });
  const model = buildModel({ name: MODEL, seed: 1 });
  const params = trainableParameters(model);
  const layout = weightLayout(model);
  const n = layoutLength(layout);
  const batches = new TrainBatchMaker(
    split,
    { augment: 'full', mixupAlpha: 0, cutmixAlpha: 0, labelSmoothing: 0, seed: 1, batchSize: BATCH },
    NUM_CLASSES,
  );
  const order = epochPermutation(1, 1, split.count);
  let step = 0;
  const nextBatch = () => {
    const indices = order.subarray(step * BATCH, (step + 1) * BATCH);
    const b = batches.make(indices, 1, step++);
    return {
      x: tf.tensor4d(b.x, [indices.length, ...IMAGE_SHAPE]),
      targets: tf.tensor2d(b.targets, [indices.length, NUM_CLASSES]),
      labels: b.labels,
    };
  };
  const sgdSteps = (optimizer: SgdMomentum, count: number) => {
    for (let s = 0; s < count; s++) {
      tf.tidy(() => {
        const { grads } = computeGradients(model, params, nextBatch());
        optimizer.apply(params, grads, LR);
      });
    }
  };
  // Away from the initialisation: the tensors as a run has them after its first steps.
  const warm = new SgdMomentum({ momentum: 0.9, weightDecay: 5e-4 });
  sgdSteps(warm, WARMUP_STEPS);
  warm.dispose();
  const w0 = readWeights(model, layout, new Float32Array(n));
  // Two workers' gradient contributions at w0 (BatchNorm statistics as values, as on the wire).
  const grads = [0, 1].map(() =>
    tf.tidy(() => {
      const { grads: g } = computeGradients(model, params, nextBatch());
      const out = readGradientContribution(model, layout, g, new Float32Array(n));
      writeWeights(model, layout, w0); // BatchNorm statistics moved in the forward pass: back to w0
      // Gradients only: the BatchNorm statistics a contribution also carries are values, measured with the parameters.
      for (const slice of layout) if (!slice.trainable) out.fill(0, slice.offset, slice.offset + slice.length);
      return out;
    }),
  ) as [Float32Array, Float32Array];
  // Two workers' local SGD from w0: the parameter change of LOCAL_STEPS steps each.
  const deltas = [0, 1].map(() => {
    const local = new SgdMomentum({ momentum: 0.9, weightDecay: 5e-4 });
    sgdSteps(local, LOCAL_STEPS);
    local.dispose();
    const after = readWeights(model, layout, new Float32Array(n));
    writeWeights(model, layout, w0);
    return after.map((v, i) => v - w0[i]!);
  }) as [Float32Array, Float32Array];

  console.log(
    `compress-rounding: ${MODEL} (${n} floats) after ${WARMUP_STEPS} SGD steps on CIFAR-10 (backend ${backend.name}); batches of ${BATCH}, lr ${LR}, momentum 0.9`,
  );
  const ratio = (a: Float32Array, b: Float32Array) => norm(a) / norm(b);
  console.log(
    `update sizes: a local-SGD round (${LOCAL_STEPS} steps) moves the parameters by ${ratio(deltas[0], w0).toExponential(2)} of their norm; one gradient step (lr x gradient) by ${((LR * norm(grads[0])) / norm(w0)).toExponential(2)}`,
  );
  console.log('\none transfer\ttensor\tformat\trounding\trelative L2 error\tnonzero values flushed to 0\tbelow 2^-14 (float16 subnormal)');
  for (const [name, v] of [
    ['parameters', w0],
    ['gradients', grads[0]],
    ['local-SGD parameter change', deltas[0]],
  ] as const) {
    for (const [dtype, rounding] of FORMATS) {
      const t = oneTransfer(v, dtype, rounding);
      if (name !== 'local-SGD parameter change')
        recordFigure(
          figureOf(
            {
              bench: 'compress-rounding',
              name: `one transfer of the ${name}, ${dtype} ${rounding}: relative L2 error (n=1 tensor set)`,
              unit: '',
              command,
            },
            [t.error],
          ),
        );
      console.log(
        [
          '',
          name,
          dtype,
          rounding,
          t.error.toExponential(2),
          `${(t.flushed * 100).toFixed(2)}%`,
          `${(t.subnormal * 100).toFixed(2)}%`,
        ].join('\t'),
      );
    }
  }
  const trainable = new Uint8Array(n);
  for (const slice of layout) if (slice.trainable) trainable.fill(1, slice.offset, slice.offset + slice.length);
  console.log(
    `\n${rounds} rounds, 2 workers (trainable values)\texchange\tupdates\tformat\trounding\tshare of the exact displacement made\terror relative to it`,
  );
  const exchanges: Exchange[] = [
    { kind: 'gradients', updates: 'fixed', scale: 1 },
    { kind: 'gradients', updates: 'varying', scale: 1 },
    { kind: 'parameters', updates: 'fixed', scale: 1 },
    { kind: 'parameters', updates: 'varying', scale: 1 },
    { kind: 'parameters', updates: 'varying', scale: 0.01 },
  ];
  for (const ex of exchanges) {
    for (const [dtype, rounding] of FORMATS) {
      const r = manyRounds(ex, w0, ex.kind === 'gradients' ? grads : deltas, trainable, rounds, dtype, rounding);
      const label = ex.kind === 'gradients' ? 'gradients (--sync-every 1)' : `parameters (--sync-every ${LOCAL_STEPS})`;
      const updates = `${ex.updates}${ex.scale !== 1 ? `, x${ex.scale} (lr / ${1 / ex.scale})` : ''}`;
      console.log(['', label, updates, dtype, rounding, r.kept.toFixed(4), r.error.toExponential(2)].join('\t'));
      if (ex.updates === 'varying')
        recordFigure(
          figureOf(
            {
              bench: 'compress-rounding',
              name: `${rounds} rounds of ${label}, ${updates}, ${dtype} ${rounding}: share of the exact displacement the master made (n=1)`,
              unit: '',
              limits: r.kept < 0.95 ? 'updates smaller than half a 16-bit step are rounded away every round' : undefined,
              command,
            },
            [r.kept],
          ),
        );
    }
  }
  console.log('\nspeed over the model\tformat\trounding\tencode ns/float\tdecode ns/float');
  const bits = new Uint32Array(w0.buffer);
  const halves = new Uint16Array(n);
  const back = new Uint32Array(n);
  for (const [dtype, rounding] of FORMATS) {
    const enc: number[] = [];
    const dec: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const t0 = performance.now();
      encodeHalf(dtype, bits, halves, rounding, new RoundingStream(rep));
      const t1 = performance.now();
      decodeHalf(dtype, halves, back);
      const t2 = performance.now();
      if (rep > 0) {
        enc.push(((t1 - t0) * 1e6) / n);
        dec.push(((t2 - t1) * 1e6) / n);
      }
    }
    const best = (xs: number[]) => Math.min(...xs).toFixed(2);
    console.log(['', dtype, rounding, best(enc), best(dec)].join('\t'));
    const codec = `${dtype} ${rounding}, ${n} floats`;
    recordFigure(figureOf({ bench: 'compress-rounding', name: `encode ${codec}: ns a float (n = repeats)`, unit: 'ns', command }, enc));
    if (rounding === 'nearest')
      recordFigure(
        figureOf({ bench: 'compress-rounding', name: `decode ${dtype}, ${n} floats: ns a float (n = repeats)`, unit: 'ns', command }, dec),
      );
  }
  model.dispose();
}

if (isMain(import.meta.url)) await run();
