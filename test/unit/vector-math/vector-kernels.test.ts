import { describe, expect, it } from 'vitest';
import { VectorMemory, axpy, firstNonFiniteWord, scale, sgdStep } from '../../../src/compute/vector-math/index.js';
import { firstNonFinite } from '../../../src/exchange/index.js';

/** Deterministic pseudo-random floats in [-1, 1). */
function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

// Around the SIMD width (4), the scan's block (1024) and the staging slot (32768).
const LENGTHS = [0, 1, 3, 4, 5, 1023, 1024, 1025, 32767, 32768, 32769, 100_003];

/** Where an operand lives: in a vector memory (in place) or an ordinary array (staged). */
type Home = 'memory' | 'plain';
function place(values: Float32Array, home: Home, memory: VectorMemory): Float32Array {
  return home === 'memory' ? memory.adopt(values) : values.slice();
}

function expectClose(got: Float32Array, want: Float64Array, scaleOf: (i: number) => number): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / scaleOf(i));
  // float32 arithmetic rounds each of the kernel's few operations: a few ulps of the terms.
  expect(worst).toBeLessThan(1e-6);
}

describe('vector kernels (WebAssembly SIMD)', () => {
  for (const [hy, hx] of [
    ['memory', 'memory'],
    ['plain', 'plain'],
    ['memory', 'plain'],
    ['plain', 'memory'],
  ] as [Home, Home][]) {
    it(`axpy y += a*x matches the double-precision result (y ${hy}, x ${hx})`, () => {
      const memory = VectorMemory.create(2 * LENGTHS.reduce((a, b) => a + b, 0));
      for (const n of LENGTHS) {
        const y0 = randomFloats(n, n + 1);
        const x0 = randomFloats(n, n + 2);
        const a = 37.5;
        const y = place(y0, hy, memory);
        const x = place(x0, hx, memory);
        axpy(y, x, a);
        const want = Float64Array.from(y0, (v, i) => v + a * x0[i]!);
        expectClose(y, want, (i) => Math.abs(y0[i]!) + Math.abs(a * x0[i]!) + 1e-30);
        expect(Array.from(x)).toEqual(Array.from(x0)); // x is read, never written
      }
    });
  }

  it('scale y *= a, in place and staged', () => {
    const memory = VectorMemory.create(100_003);
    for (const home of ['memory', 'plain'] as Home[]) {
      for (const n of LENGTHS) {
        const y0 = randomFloats(n, n + 3);
        const y = home === 'memory' ? memory.zeros(n) : new Float32Array(n);
        y.set(y0);
        scale(y, 1 / 3);
        expectClose(
          y,
          Float64Array.from(y0, (v) => v / 3),
          (i) => Math.abs(y0[i]!) + 1e-30,
        );
      }
      memory.zeros(0);
    }
  });

  it('firstNonFinite finds the first NaN or +-Infinity wherever it is, and nothing in finite data', () => {
    const memory = VectorMemory.create(100_003);
    const resident = memory.zeros(100_003);
    const bad = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (const home of ['memory', 'plain'] as Home[]) {
      for (const n of LENGTHS.filter((l) => l > 0)) {
        const values = home === 'memory' ? resident.subarray(0, n) : new Float32Array(n);
        values.set(randomFloats(n, n));
        // The largest finite floats and the subnormals are finite.
        values[0] = 3.4028234663852886e38;
        if (n > 1) values[n - 1] = -1.4e-45;
        const words = new Int32Array(values.buffer, values.byteOffset, n);
        expect(firstNonFiniteWord(words)).toBe(-1);
        const positions = [0, n - 1, Math.floor(n / 2), 1023, 1024, 32767, 32768].filter((p) => p < n);
        for (const [k, at] of positions.entries()) {
          const saved = values[at]!;
          values[at] = bad[k % bad.length]!;
          expect(firstNonFiniteWord(words)).toBe(at);
          // A second bad value after the first does not hide it.
          if (at + 5 < n) {
            const after = values[at + 5]!;
            values[at + 5] = Number.NaN;
            expect(firstNonFiniteWord(words)).toBe(at);
            values[at + 5] = after;
          }
          values[at] = saved;
        }
      }
    }
  });

  it("accumulate writes s + a*x and finds x's first NaN or Infinity in the same pass", () => {
    const lengths = [5, 1024, 1025, 32769, 40_000];
    const memory = VectorMemory.create(3 * lengths.reduce((a, b) => a + b, 0));
    for (const home of ['memory', 'plain'] as Home[]) {
      for (const n of lengths) {
        const s0 = randomFloats(n, 11);
        const x0 = randomFloats(n, 12);
        const [out, s1, x] = [new Float32Array(n), s0, x0].map((v) => place(v, home, memory)) as [Float32Array, Float32Array, Float32Array];
        expect(memory.accumulate(out, s1, x, 0.5)).toBe(-1);
        expectClose(
          out,
          Float64Array.from(s0, (v, i) => v + 0.5 * x0[i]!),
          (i) => Math.abs(s0[i]!) + Math.abs(0.5 * x0[i]!) + 1e-30,
        );
        for (const at of [0, 1023, 1024, n - 1].filter((p) => p < n)) {
          const keep = x[at]!;
          x[at] = Number.NEGATIVE_INFINITY;
          expect(memory.accumulate(out, s1, x, 0.5)).toBe(at);
          x[at] = keep;
        }
      }
    }
  });

  it("the exchange scan reports a range's first bad float by its index in the whole buffer", () => {
    const values = randomFloats(70_000, 9);
    const words = new Int32Array(values.buffer);
    values[50_000] = Number.NaN;
    values[60_000] = Number.POSITIVE_INFINITY;
    expect(firstNonFinite(words, 0, 70_000)).toBe(50_000);
    expect(firstNonFinite(words, 50_001, 70_000)).toBe(60_000);
    expect(firstNonFinite(words, 0, 50_000)).toBe(-1);
    expect(firstNonFinite(words, 10, 10)).toBe(-1);
  });

  for (const [useBuffer, momentum] of [
    [true, 0.9],
    [false, 0.9],
    [false, 0],
  ] as [boolean, number][]) {
    it(`sgd matches PyTorch's rule (momentum ${momentum}, ${useBuffer ? 'with' : 'first step: without'} the buffer), in place and staged`, () => {
      const memory = VectorMemory.create(3 * 100_003 + 64);
      for (const home of ['memory', 'plain'] as Home[]) {
        for (const n of [5, 32769, 100_003]) {
          const p0 = randomFloats(n, 1);
          const m0 = randomFloats(n, 2);
          const g0 = randomFloats(n, 3);
          const h = { lr: 0.05, momentum, weightDecay: 5e-4, useBuffer };
          const [p, m, g] = [p0, m0, g0].map((v) => place(v, home, memory)) as [Float32Array, Float32Array, Float32Array];
          sgdStep(p, m, g, h);
          const wantBuf = Float64Array.from(g0, (gv, i) => {
            const gd = gv + h.weightDecay * p0[i]!;
            return useBuffer ? momentum * m0[i]! + gd : gd;
          });
          // Errors are relative to the terms' sizes (a sum that cancels keeps its terms' absolute error).
          const bufScale = (i: number) =>
            Math.abs(g0[i]!) + Math.abs(h.weightDecay * p0[i]!) + (useBuffer ? Math.abs(momentum * m0[i]!) : 0) + 1e-30;
          expectClose(m, wantBuf, bufScale);
          expectClose(
            p,
            Float64Array.from(p0, (v, i) => v - h.lr * wantBuf[i]!),
            (i) => Math.abs(p0[i]!) + h.lr * bufScale(i),
          );
        }
      }
    });
  }

  it('a full arena hands out ordinary arrays, and the kernels still work on them', () => {
    const memory = VectorMemory.create(1000);
    const inside = memory.zeros(1000);
    expect(memory.owns(inside)).toBe(true);
    const outside = memory.zeros(1000);
    expect(memory.owns(outside)).toBe(false);
    const values = randomFloats(1000, 4);
    expect(memory.adopt(values)).toBe(values); // no room: the caller keeps its own array
    outside.set(values);
    axpy(outside, inside.fill(1), 2);
    expectClose(
      outside,
      Float64Array.from(values, (v) => v + 2),
      (i) => Math.abs(values[i]!) + 2,
    );
  });

  it('operands of different lengths are refused, naming the lengths', () => {
    expect(() => axpy(new Float32Array(4), new Float32Array(5), 1)).toThrow(/differ in length: 4, 5/);
    const memory = VectorMemory.create(64);
    expect(() =>
      memory.sgd(memory.zeros(8), memory.zeros(8), memory.zeros(7), { lr: 1, momentum: 0, weightDecay: 0, useBuffer: false }),
    ).toThrow(/differ in length: 8, 8, 7/);
  });
});
