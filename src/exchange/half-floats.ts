/**
 * The two 16-bit float formats a tensor set may travel in (--compress):
 * IEEE 754 binary16 ('float16': 5 exponent bits, 10 mantissa bits, largest
 * finite 65504, subnormals down to 2^-24) and bfloat16 (float32's 8
 * exponent bits and top 7 mantissa bits: float32's range, 3 significant
 * digits). Encoding rounds from float32, to nearest (ties to even) or
 * stochastically from a seeded stream; decoding to float32 is exact.
 *
 * Rounding to nearest and decoding run as WebAssembly SIMD kernels
 * (compute/vector-math/half-kernels.wat, about 10x a JS loop); the JS
 * functions below are the reference they match bit for bit, and convert
 * what the kernels leave (stochastic rounding, the last few values). They
 * work on the floats' bits (Uint32Array in, Uint16Array out, or the
 * reverse), so V8 keeps them in integer registers.
 */
import { floatsToHalves, halvesToFloats } from '../compute/vector-math/index.js';

export type HalfDtype = 'float16' | 'bfloat16';

/**
 * nearest: round to nearest, ties to even (deterministic, the smaller
 * error). stochastic: round up with probability equal to the fraction of
 * the gap below (unbiased: E[decode(encode(x))] = x), from a seeded stream.
 */
export type Rounding = 'nearest' | 'stochastic';

export const FLOAT16_MAX = 65504;

/** float16 bits -> float32 bits, for all 65536 patterns (256 KiB): decoding is one lookup a value. */
const FLOAT16_TO_FLOAT32_BITS = (() => {
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) table[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    else if (exp !== 0) table[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    else if (mant === 0) table[h] = sign >>> 0;
    else {
      // A subnormal: normalise the mantissa into float32's implicit-bit form.
      let e = 113;
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      table[h] = (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
    }
  }
  return table;
})();

/** One float32 (as bits) to float16 bits, rounded to nearest, ties to even; NaN stays NaN (quiet), +-Inf stays +-Inf. */
export function float16BitsNearest(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x7f800000) return sign | (a > 0x7f800000 ? 0x7e00 | ((a >>> 13) & 0x3ff) : 0x7c00);
  // 65520 and above round to Inf (65520 is the tie between 65504 and 2^16; 65504's mantissa is odd).
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) {
    // Normal in float16: rebias the exponent (127 -> 15), round 23 mantissa bits to 10; a carry moves into the exponent.
    const b = a - 0x38000000;
    return sign | ((b + 0x0fff + ((b >>> 13) & 1)) >>> 13);
  }
  // A float16 subnormal (or zero): the value in units of 2^-24, rounded to an integer. 2^-25 and below round to 0.
  if (a <= 0x33000000) return sign;
  const m = (a & 0x7fffff) | 0x800000;
  const shift = 126 - (a >>> 23); // 14..24
  const q = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q);
}

/**
 * One float32 (as bits) to float16 bits, rounded stochastically with the
 * uniform 32 random bits `r`: |x| is rounded up with probability (|x| -
 * down) / (up - down). NaN and +-Inf as in float16BitsNearest.
 */
export function float16BitsStochastic(u: number, r: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x7f800000) return sign | (a > 0x7f800000 ? 0x7e00 | ((a >>> 13) & 0x3ff) : 0x7c00);
  // 65536 and above: Inf whatever the draw (the bits below are all past the largest binade).
  if (a >= 0x47800000) return sign | 0x7c00;
  if (a >= 0x38800000) return sign | ((a - 0x38000000 + (r & 0x1fff)) >>> 13);
  // Below 2^-24 the gap is 2^-24 and 0: |x| / 2^-24 is the chance of 2^-24.
  if (a < 0x33800000) {
    if (a < 0x00800000) return sign; // a float32 subnormal: far below float16's smallest, never rounded up
    const m = (a & 0x7fffff) | 0x800000;
    const shift = 126 - (a >>> 23); // 25..126: keep it as a fraction of 2^32
    return shift >= 56 ? sign : sign | (r >>> 0 < Math.floor(m * 2 ** (32 - shift)) ? 1 : 0);
  }
  const m = (a & 0x7fffff) | 0x800000;
  const shift = 126 - (a >>> 23); // 14..24
  return sign | ((m + (r & ((1 << shift) - 1))) >>> shift);
}

/** One float32 (as bits) to bfloat16 bits, rounded to nearest, ties to even. */
export function bfloat16BitsNearest(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff; // NaN: keep it a (quiet) NaN
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** One float32 (as bits) to bfloat16 bits, rounded stochastically with the 32 random bits `r`. */
export function bfloat16BitsStochastic(u: number, r: number): number {
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  if (a === 0x7f800000) return u >>> 16;
  return ((u + (r & 0xffff)) >>> 16) & 0xffff;
}

/**
 * The stream of 32-bit draws one tensor's stochastic rounding uses
 * (mulberry32): a pure function of its seed, so the same seed gives the
 * same bits on every machine.
 */
export class RoundingStream {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
}

/** murmur3's 32-bit finalizer: every input bit flips each output bit with probability about 1/2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a of a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The seed of one tensor's rounding stream, keyed by the run's seed, the
 * round, the sender (a worker's position among the round's members) and
 * the tensor's name: the same key, the same bits; any other key, others.
 */
export function roundingSeed(key: { seed: number; round: number; sender: number }, tensor: string): number {
  let h = fmix32((key.seed ^ 0x9e3779b9) >>> 0);
  h = fmix32((h ^ (key.round >>> 0)) >>> 0);
  h = fmix32((h ^ Math.floor(key.round / 2 ** 32)) >>> 0);
  h = fmix32((h ^ (key.sender >>> 0)) >>> 0);
  return fmix32((h ^ fnv1a(tensor)) >>> 0);
}

/**
 * Encodes `src` (float32 bits) into `dst` (16-bit), the same length.
 * Returns the index of the first finite value that became +-Inf (float16
 * overflow: |x| from 65520 to nearest, above 65504 with some chance when
 * stochastic; bfloat16 only within half a step of float32's largest), or
 * -1. `dst` is written in full either way; the caller decides (the tensor
 * set encoder refuses). `stream`: the draws for stochastic rounding.
 */
export function encodeHalf(dtype: HalfDtype, src: Uint32Array, dst: Uint16Array, rounding: Rounding, stream?: RoundingStream): number {
  const n = src.length;
  if (dst.length !== n) throw new RangeError(`encodeHalf: ${n} values into ${dst.length}`);
  if (rounding === 'stochastic' && !stream) throw new RangeError('encodeHalf: stochastic rounding needs a stream');
  const inf = dtype === 'float16' ? 0x7c00 : 0x7f80;
  let overflow = -1;
  // Values [0, done) converted by the kernel, which says whether any of them overflowed.
  let done = 0;
  let scanFrom = 0;
  if (rounding === 'nearest') {
    const bulk = floatsToHalves(dtype, src, dst);
    done = bulk.converted;
    if (!bulk.overflow) scanFrom = done;
  }
  if (dtype === 'float16') {
    if (rounding === 'nearest') for (let i = done; i < n; i++) dst[i] = float16BitsNearest(src[i]!);
    else for (let i = 0; i < n; i++) dst[i] = float16BitsStochastic(src[i]!, stream!.next());
  } else if (rounding === 'nearest') for (let i = done; i < n; i++) dst[i] = bfloat16BitsNearest(src[i]!);
  else for (let i = 0; i < n; i++) dst[i] = bfloat16BitsStochastic(src[i]!, stream!.next());
  // The overflow scan is its own loop: the rounding loops stay branch-free; infinities are rare.
  for (let i = scanFrom; i < n; i++) {
    if ((dst[i]! & 0x7fff) === inf && (src[i]! & 0x7fffffff) < 0x7f800000) {
      overflow = i;
      break;
    }
  }
  return overflow;
}

/** Decodes 16-bit floats into float32 bits (exact: every float16 and bfloat16 value is a float32). */
export function decodeHalf(dtype: HalfDtype, src: Uint16Array, dst: Uint32Array): void {
  const n = src.length;
  if (dst.length < n) throw new RangeError(`decodeHalf: ${n} values into ${dst.length}`);
  const done = halvesToFloats(dtype, src, dst.length === n ? dst : dst.subarray(0, n));
  decodeHalfScalar(dtype, src.subarray(done), dst.subarray(done, n));
}

/** decodeHalf in JS (the reference of the kernel, and the last few values). */
export function decodeHalfScalar(dtype: HalfDtype, src: Uint16Array, dst: Uint32Array): void {
  const n = src.length;
  if (dtype === 'float16') {
    const table = FLOAT16_TO_FLOAT32_BITS;
    for (let i = 0; i < n; i++) dst[i] = table[src[i]!]!;
  } else for (let i = 0; i < n; i++) dst[i] = src[i]! << 16;
}
