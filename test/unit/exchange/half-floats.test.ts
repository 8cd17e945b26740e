import { describe, expect, it } from 'vitest';
import {
  FLOAT16_MAX,
  RoundingStream,
  decodeHalf,
  encodeHalf,
  roundingSeed,
  type HalfDtype,
  type Rounding,
} from '../../../src/exchange/index.js';
import { bfloat16BitsNearest, decodeHalfScalar, float16BitsNearest } from '../../../src/exchange/half-floats.js';
import { mulberry32 } from '../../../src/runtime/seeded-random.js';

/** float32 values through a 16-bit format and back. */
function roundTrip(dtype: HalfDtype, values: readonly number[], rounding: Rounding = 'nearest', seed = 1): Float32Array {
  const src = Float32Array.from(values);
  const halves = new Uint16Array(src.length);
  encodeHalf(dtype, new Uint32Array(src.buffer), halves, rounding, new RoundingStream(seed));
  const out = new Float32Array(src.length);
  decodeHalf(dtype, halves, new Uint32Array(out.buffer));
  return out;
}

function bitsOf(dtype: HalfDtype, values: readonly number[]): number[] {
  const src = Float32Array.from(values);
  const halves = new Uint16Array(src.length);
  encodeHalf(dtype, new Uint32Array(src.buffer), halves, 'nearest');
  return [...halves];
}

const FORMATS = {
  // Significand bits after the point, smallest normal exponent, largest finite value.
  float16: { mantissa: 10, minExp: -14, max: FLOAT16_MAX },
  bfloat16: { mantissa: 7, minExp: -126, max: (2 - 2 ** -7) * 2 ** 127 },
} as const;

/** Round to nearest, ties to even, in double arithmetic (exact for float32 inputs): the reference. */
function reference(dtype: HalfDtype, x: number): number {
  const f = FORMATS[dtype];
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, f.minExp) - f.mantissa);
  const q = a / ulp;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  const v = r * ulp;
  return Math.sign(x) * (v > f.max ? Number.POSITIVE_INFINITY : v);
}

/** Random float32 values over many binades, both signs, subnormals of both formats included. */
function randomFloats(n: number, seed: number, minLog2: number, maxLog2: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const v = (rand() < 0.5 ? -1 : 1) * 2 ** (minLog2 + rand() * (maxLog2 - minLog2)) * (1 + rand());
    return Math.fround(v);
  });
}

describe('16-bit floats: round to nearest, ties to even', () => {
  it.each(['float16', 'bfloat16'] as const)('%s matches the double-arithmetic reference on 200,000 random float32 values', (dtype) => {
    const values = dtype === 'float16' ? randomFloats(200_000, 3, -30, 17) : randomFloats(200_000, 3, -140, 127);
    const got = roundTrip(dtype, values);
    let mismatches = 0;
    for (let i = 0; i < values.length; i++) if (!Object.is(got[i], reference(dtype, values[i]!))) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('every float16 value survives a round trip bit for bit (65536 patterns, NaNs stay NaN)', () => {
    const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const floats = new Float32Array(65536);
    decodeHalf('float16', halves, new Uint32Array(floats.buffer));
    const again = new Uint16Array(65536);
    encodeHalf('float16', new Uint32Array(floats.buffer), again, 'nearest');
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (nan ? !Number.isNaN(floats[h]) : again[h] !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('float16: the bounds of its range and its subnormals', () => {
    const got = roundTrip('float16', [
      65504,
      65519,
      65520,
      -65520,
      2 ** -14,
      2 ** -24,
      2 ** -25,
      1.0001 * 2 ** -25,
      3 * 2 ** -25,
      1e-9,
      -0,
      0,
    ]);
    expect([...got]).toEqual([
      65504, // the largest finite
      65504, // below the tie: down
      Number.POSITIVE_INFINITY, // the tie with 2^16: to even, which is Inf (overflow, refused by the set encoder)
      Number.NEGATIVE_INFINITY,
      2 ** -14, // the smallest normal
      2 ** -24, // the smallest subnormal
      0, // half of it: a tie, to even (0)
      2 ** -24, // above the tie: up
      4 * 2 ** -25, // 1.5 units: a tie, to even (2 units)
      0, // far below: flushed to zero
      -0,
      0,
    ]);
    expect(Object.is(got[10], -0)).toBe(true);
    // Subnormals keep an absolute error of at most half a unit (2^-25).
    const small = randomFloats(20_000, 5, -27, -14);
    const back = roundTrip('float16', small);
    let worst = 0;
    for (let i = 0; i < small.length; i++) worst = Math.max(worst, Math.abs(back[i]! - small[i]!));
    expect(worst).toBeLessThanOrEqual(2 ** -25);
  });

  it('bfloat16: ties to even, float32 subnormals kept, overflow only at the top of float32', () => {
    const got = roundTrip('bfloat16', [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 2 ** -130, 3.4e38, -3.4e38, 3.38e38]);
    expect([...got]).toEqual([
      1, // the tie between 1 and 1 + 2^-7: to even (1)
      1 + 2 ** -6, // the tie between 1 + 2^-7 and 1 + 2^-6: to even
      1 + 2 ** -7, // above the tie: up
      2 ** -130, // a float32 subnormal on bfloat16's grid (steps of 2^-133): exact
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Math.fround(reference('bfloat16', Math.fround(3.38e38))),
    ]);
  });

  it.each([
    ['float16', 2 ** -11],
    ['bfloat16', 2 ** -8],
  ] as const)('%s: relative error of normal values at most %d (half a step)', (dtype, bound) => {
    const values = dtype === 'float16' ? randomFloats(100_000, 9, -14, 15) : randomFloats(100_000, 9, -126, 126);
    const back = roundTrip(dtype, values);
    let worst = 0;
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(back[i]! - values[i]!) / Math.abs(values[i]!));
    expect(worst).toBeLessThanOrEqual(bound);
    expect(worst).toBeGreaterThan(bound * 0.9);
  });

  it.each(['float16', 'bfloat16'] as const)('%s keeps NaN, +-Infinity and -0, and reports a finite value that overflows', (dtype) => {
    const got = roundTrip(dtype, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0]);
    expect(Number.isNaN(got[0])).toBe(true);
    expect([got[1], got[2]]).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    expect(Object.is(got[3], -0)).toBe(true);
    const big = dtype === 'float16' ? 70_000 : 3.4e38;
    const src = Float32Array.from([1, Number.POSITIVE_INFINITY, 2, -big, big]);
    const out = new Uint16Array(5);
    // An infinite input is not an overflow (the receiver's finite check refuses it); the first finite one that became Inf is.
    expect(encodeHalf(dtype, new Uint32Array(src.buffer), out, 'nearest')).toBe(3);
    expect(encodeHalf(dtype, new Uint32Array(src.buffer, 0, 3), out.subarray(0, 3), 'nearest')).toBe(-1);
  });

  it('float16 bits are the IEEE binary16 patterns', () => {
    expect(bitsOf('float16', [1, -2, 0.5, 65504, 2 ** -24, Number.POSITIVE_INFINITY])).toEqual([
      0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00,
    ]);
    expect(bitsOf('bfloat16', [1, -2, 0.5, Number.POSITIVE_INFINITY])).toEqual([0x3f80, 0xc000, 0x3f00, 0x7f80]);
  });
});

describe('16-bit floats: stochastic rounding', () => {
  it.each(['float16', 'bfloat16'] as const)('%s is unbiased: the mean of many roundings is the value', (dtype) => {
    const ulp = dtype === 'float16' ? 2 ** -10 : 2 ** -7;
    const x = Math.fround(1 + 0.3 * ulp);
    const n = 40_000;
    const got = roundTrip(dtype, new Array<number>(n).fill(x), 'stochastic', 17);
    const up = got.filter((v) => v === 1 + ulp).length;
    expect(got.every((v) => v === 1 || v === 1 + ulp)).toBe(true);
    // Binomial(n, 0.3): standard deviation 92; 5 sigma.
    expect(Math.abs(up - 0.3 * n)).toBeLessThan(5 * Math.sqrt(n * 0.3 * 0.7));
    // To nearest, every one goes down: a bias of 0.3 step.
    expect(roundTrip(dtype, [x])[0]).toBe(1);
  });

  it('float16 subnormals: a quarter of the smallest step rounds up a quarter of the time; exact values stay exact', () => {
    const n = 40_000;
    const got = roundTrip('float16', new Array<number>(n).fill(2 ** -26), 'stochastic', 3);
    const up = got.filter((v) => v === 2 ** -24).length;
    expect(got.every((v) => v === 0 || v === 2 ** -24)).toBe(true);
    expect(Math.abs(up - n / 4)).toBeLessThan(5 * Math.sqrt((n * 3) / 16));
    const exact = [1, -0.5, 65504, 2 ** -24, 3 * 2 ** -24, 0];
    expect([...roundTrip('float16', exact, 'stochastic', 4)]).toEqual(exact);
    expect([...roundTrip('bfloat16', [1, -0.5, 2 ** -130], 'stochastic', 4)]).toEqual([1, -0.5, 2 ** -130]);
  });

  it('rounds every value to one of its two neighbours, never further', () => {
    const values = randomFloats(50_000, 11, -20, 15);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const step = dtype === 'float16' ? 2 ** -10 : 2 ** -7;
      const back = roundTrip(dtype, values, 'stochastic', 8);
      const far: number[] = [];
      for (let i = 0; i < values.length; i++) {
        const a = Math.abs(values[i]!);
        const unit = Math.max(2 ** Math.floor(Math.log2(a)), dtype === 'float16' ? 2 ** -14 : 0) * step;
        if (!(Math.abs(back[i]! - values[i]!) < unit * 1.0000001)) far.push(values[i]!);
      }
      expect(far, dtype).toEqual([]);
    }
  });

  it('is reproducible: the same key gives the same bits, another key others', () => {
    const key = { seed: 7, round: 12, sender: 1 };
    const a = roundingSeed(key, 'conv1/kernel');
    expect(roundingSeed({ ...key }, 'conv1/kernel')).toBe(a);
    const others = [
      roundingSeed({ ...key, seed: 8 }, 'conv1/kernel'),
      roundingSeed({ ...key, round: 13 }, 'conv1/kernel'),
      roundingSeed({ ...key, round: 12 + 2 ** 32 }, 'conv1/kernel'),
      roundingSeed({ ...key, sender: 0 }, 'conv1/kernel'),
      roundingSeed(key, 'conv1/bias'),
    ];
    expect(new Set([a, ...others]).size).toBe(6);
    const values = randomFloats(1000, 2, -10, 5);
    expect(roundTrip('bfloat16', values, 'stochastic', a)).toEqual(roundTrip('bfloat16', values, 'stochastic', a));
    expect(roundTrip('bfloat16', values, 'stochastic', a)).not.toEqual(roundTrip('bfloat16', values, 'stochastic', others[0]!));
  });
});

describe('16-bit floats: the SIMD kernels match the JS reference bit for bit', () => {
  it.each(['float16', 'bfloat16'] as const)(
    '%s: 1,000,003 random float32 bit patterns (NaN, Inf, subnormals included) and every 16-bit pattern',
    (dtype) => {
      const rand = mulberry32(99);
      const n = 1_000_003; // not a multiple of 8: the last values take the JS path
      const bits = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
      // Near the boundaries too: float16's range and subnormals, bfloat16's top.
      for (let i = 0; i < 200_000; i++) bits[i] = (0x33000000 + Math.floor(rand() * (0x47800000 - 0x33000000))) | (i % 2 ? 0x80000000 : 0);
      const halves = new Uint16Array(n);
      encodeHalf(dtype, bits, halves, 'nearest');
      const scalar = dtype === 'float16' ? float16BitsNearest : bfloat16BitsNearest;
      const wrong: number[] = [];
      for (let i = 0; i < n; i++) if (halves[i] !== scalar(bits[i]!)) wrong.push(bits[i]!);
      expect(wrong.slice(0, 5).map((b) => b.toString(16))).toEqual([]);
      const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const viaKernel = new Uint32Array(65536);
      const viaJs = new Uint32Array(65536);
      decodeHalf(dtype, all, viaKernel);
      decodeHalfScalar(dtype, all, viaJs);
      expect(Buffer.compare(Buffer.from(viaKernel.buffer), Buffer.from(viaJs.buffer))).toBe(0);
    },
  );

  it('reports an overflow found by the kernel (in the first 8 values) and one in the JS tail, at its index', () => {
    for (const at of [3, 17]) {
      const src = new Float32Array(19).fill(1);
      src[at] = 1e5;
      expect(encodeHalf('float16', new Uint32Array(src.buffer), new Uint16Array(19), 'nearest')).toBe(at);
    }
  });
});
