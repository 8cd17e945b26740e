/**
 * The coordinator's per-float loops on a ResNet-18-sized vector (11.2 M
 * floats), side by side in one run: the JS loops fleet used before
 * (Float32Array, V8) against the WebAssembly SIMD kernels of vector-math, in
 * place (arrays in a VectorMemory, as the coordinator keeps them) and staged
 * (ordinary arrays, copied through the cache-sized slots). ns a float over
 * FLEET_BENCH_REPEATS (7) repeats after one untimed: the best printed, mean
 * +- std recorded (figures.ts), each kernel against its JS loop.
 */
import { VectorMemory } from '../src/compute/vector-math/index.js';
import { isMain } from './kernel-conv-shapes.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';

const N = 11_173_962;

function jsAxpy(y: Float32Array, x: Float32Array, a: number): void {
  for (let i = 0; i < y.length; i++) y[i]! += x[i]! * a;
}

/** The JS scan fleet used before: branch-free exponent test, OR-ed over blocks. */
function jsFirstNonFinite(words: Int32Array): number {
  const block = 1 << 16;
  for (let start = 0; start < words.length; start += block) {
    const end = Math.min(words.length, start + block);
    let acc = 0;
    for (let i = start; i < end; i++) acc |= ((words[i]! & 0x7f800000) + 0x00800000) | 0;
    if (acc < 0) for (let i = start; i < end; i++) if ((words[i]! & 0x7f800000) === 0x7f800000) return i;
  }
  return -1;
}

function jsSgd(p: Float32Array, m: Float32Array, g: Float32Array, lr: number, momentum: number, wd: number): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! + wd * p[i]!;
    const buf = momentum * m[i]! + gi;
    m[i] = buf;
    p[i]! -= lr * buf;
  }
}

/** ns a float of each of `repeats` calls, after one untimed (JIT, page faults). */
function timed(repeats: number, f: () => void): number[] {
  f();
  const out: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    f();
    out.push(((performance.now() - t) * 1e6) / N);
  }
  return out;
}

export async function run(): Promise<void> {
  const repeats = Number(process.env.FLEET_BENCH_REPEATS ?? 7);
  const memory = VectorMemory.create(4 * N);
  const fill = (a: Float32Array, seed: number) => {
    for (let i = 0; i < a.length; i++) a[i] = (((i * seed) % 2001) - 1000) * 1e-4;
    return a;
  };
  const inPlace = [memory.zeros(N), memory.zeros(N), memory.zeros(N)].map((a, i) => fill(a, i + 3)) as [
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const plain = [new Float32Array(N), new Float32Array(N), new Float32Array(N)].map((a, i) => fill(a, i + 3)) as [
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const words = (a: Float32Array) => new Int32Array(a.buffer, a.byteOffset, a.length);
  const h = { lr: 1e-6, momentum: 0.9, weightDecay: 5e-4, useBuffer: true };
  const rows: [string, number[], number[], number[]][] = [
    [
      'sum (y += a*x)',
      timed(repeats, () => jsAxpy(plain[0], plain[1], 1e-3)),
      timed(repeats, () => memory.axpy(inPlace[0], inPlace[1], 1e-3)),
      timed(repeats, () => memory.axpy(plain[0], plain[1], 1e-3)),
    ],
    [
      'finite scan',
      timed(repeats, () => jsFirstNonFinite(words(plain[1]))),
      timed(repeats, () => memory.firstNonFinite(words(inPlace[1]))),
      timed(repeats, () => memory.firstNonFinite(words(plain[1]))),
    ],
    [
      'SGD with momentum',
      timed(repeats, () => jsSgd(plain[0], plain[1], plain[2], h.lr, h.momentum, h.weightDecay)),
      timed(repeats, () => memory.sgd(inPlace[0], inPlace[1], inPlace[2], h)),
      timed(repeats, () => memory.sgd(plain[0], plain[1], plain[2], h)),
    ],
  ];
  console.log(`vector-kernels: ${N} floats (ResNet-18), ns a float, best of ${repeats}`);
  console.log('loop\tJS (before)\tSIMD in place\tSIMD staged\tJS / in place');
  const best = (xs: number[]) => Math.min(...xs);
  for (const [name, js, place, staged] of rows)
    console.log(
      [name, best(js).toFixed(3), best(place).toFixed(3), best(staged).toFixed(3), (best(js) / best(place)).toFixed(1)].join('\t'),
    );
  const bench = 'vector-kernels';
  const command = benchCommand(bench);
  const limits = 'one core streaming 45 MB arrays from memory: past the caches, the loop waits on memory more than on arithmetic';
  for (const [name, js, place, staged] of rows) {
    const jsFigure = recordFigure(figureOf({ bench, name: `${name}, JS loop: ns a float (n = repeats)`, unit: 'ns', command }, js));
    const reference = { name: 'the JS loop', mean: jsFigure.mean };
    recordFigure(
      figureOf({ bench, name: `${name}, SIMD in place: ns a float (n = repeats)`, unit: 'ns', reference, limits, command }, place),
    );
    recordFigure(
      figureOf(
        { bench, name: `${name}, SIMD staged through the slots: ns a float (n = repeats)`, unit: 'ns', reference, limits, command },
        staged,
      ),
    );
  }
}

if (isMain(import.meta.url)) await run();
