import { describe, expect, it } from 'vitest';
import { AugmentOptionError, BufferSizeError, LabelRangeError, mixedTargets, softTargets } from '../../../src/augment/index.js';

const rows = (t: Float32Array, k: number): number[][] =>
  Array.from({ length: t.length / k }, (_, i) => Array.from(t.subarray(i * k, (i + 1) * k)));
const sum = (row: number[]): number => row.reduce((a, b) => a + b, 0);

describe('softTargets', () => {
  it('is one-hot without smoothing', () => {
    const t = softTargets({ labels: [3, 0, 9] });
    expect(t.length).toBe(30);
    expect(rows(t, 10)[0]).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(rows(t, 10)[2]![9]).toBe(1);
  });

  it('smooths to y*(1-s) + s/K', () => {
    const t = softTargets({ labels: [2], labelSmoothing: 0.1 });
    const row = rows(t, 10)[0]!;
    expect(row[2]).toBeCloseTo(0.91, 6);
    for (const k of [0, 1, 3, 9]) expect(row[k]).toBeCloseTo(0.01, 6);
    expect(sum(row)).toBeCloseTo(1, 6);
  });

  it('honours numClasses and a reused output buffer', () => {
    const out = new Float32Array(6).fill(9);
    const t = softTargets({ labels: [1, 2], numClasses: 3, out });
    expect(t).toBe(out);
    expect(Array.from(t)).toEqual([0, 1, 0, 0, 0, 1]);
  });

  it('rejects bad labels, smoothing, class counts and buffers, naming the value', () => {
    let err: unknown;
    try {
      softTargets({ labels: [1, 10] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LabelRangeError);
    expect(err).toMatchObject({ label: 10, position: 1, numClasses: 10 });
    expect(() => softTargets({ labels: [0], labelSmoothing: 1 })).toThrow(/labelSmoothing: 1 \(expected a number in \[0, 1\)\)/);
    expect(() => softTargets({ labels: [0], labelSmoothing: -0.1 })).toThrow(AugmentOptionError);
    expect(() => softTargets({ labels: [0], numClasses: 1 })).toThrow(/numClasses: 1/);
    expect(() => softTargets({ labels: [0], out: new Float32Array(9) })).toThrow(BufferSizeError);
  });
});

describe('mixedTargets', () => {
  it('is lam*smooth(y) + (1-lam)*smooth(y[perm]) and every row sums to 1', () => {
    const labels = [1, 4, 4, 7];
    const perm = [3, 2, 1, 0];
    const lam = 0.3;
    const s = 0.1;
    const t = rows(mixedTargets({ labels, perm, lam, labelSmoothing: s }), 10);
    const smooth = (y: number): number[] => Array.from({ length: 10 }, (_, k) => (k === y ? 1 - s : 0) + s / 10);
    for (let i = 0; i < 4; i++) {
      const a = smooth(labels[i]!);
      const b = smooth(labels[perm[i]!]!);
      for (const [k, v] of a.entries()) expect(t[i]![k]).toBeCloseTo(lam * v + (1 - lam) * b[k]!, 6);
      expect(sum(t[i]!)).toBeCloseTo(1, 6);
    }
    // Rows 1 and 2 pair label 4 with itself: plain smoothed one-hot.
    expect(t[1]![4]).toBeCloseTo(0.91, 6);
  });

  it('with lam 1 equals softTargets', () => {
    const labels = [5, 6, 7];
    expect(mixedTargets({ labels, perm: [2, 0, 1], lam: 1, labelSmoothing: 0.2 })).toEqual(softTargets({ labels, labelSmoothing: 0.2 }));
  });

  it('rejects lam outside [0,1] and bad permutations', () => {
    expect(() => mixedTargets({ labels: [0, 1], perm: [1, 0], lam: 1.5 })).toThrow(/lam: 1.5/);
    expect(() => mixedTargets({ labels: [0, 1], perm: [1], lam: 0.5 })).toThrow(BufferSizeError);
    expect(() => mixedTargets({ labels: [0, 1], perm: [1, 2], lam: 0.5 })).toThrow(/perm\[1\]: 2/);
  });
});
