import { describe, expect, it } from 'vitest';
import {
  AugmentOptionError,
  BufferSizeError,
  IMAGE_LEN,
  IMAGE_SIZE,
  batchRandom,
  boxArea,
  cutmixBox,
  cutmixInPlace,
  drawMixParams,
  mixBatch,
  mixedTargets,
  mixupInPlace,
  softTargets,
  type CutBox,
} from '../../../src/augment/index.js';

/** A batch where every value identifies its image, row, column and channel. */
function batchOf(b: number): Float32Array {
  const x = new Float32Array(b * IMAGE_LEN);
  for (let i = 0; i < x.length; i++) x[i] = Math.floor(i / IMAGE_LEN) * 10_000 + (i % IMAGE_LEN) * 0.25;
  return x;
}
const img = (x: Float32Array, i: number): Float32Array => x.subarray(i * IMAGE_LEN, (i + 1) * IMAGE_LEN);
const inBox = (box: CutBox, k: number): boolean => {
  const pix = Math.floor(k / 3);
  const r = Math.floor(pix / IMAGE_SIZE);
  const c = pix % IMAGE_SIZE;
  return r >= box.y0 && r < box.y1 && c >= box.x0 && c < box.x1;
};
const isPermutation = (p: ArrayLike<number>): boolean =>
  Array.from(p)
    .sort((a, b) => a - b)
    .every((v, i) => v === i);
const rowSums = (t: Float32Array, k = 10): number[] =>
  Array.from({ length: t.length / k }, (_, i) => t.subarray(i * k, (i + 1) * k).reduce((a, b) => a + b, 0));

describe('mixupInPlace', () => {
  it('sets every pixel to lam*x_i + (1-lam)*x_perm[i], whatever the cycle structure', () => {
    // Two 3-cycles, a 2-cycle and a fixed point.
    const perm = [1, 2, 0, 5, 3, 4, 7, 6, 8];
    const lam = 0.35;
    const before = batchOf(perm.length);
    const x = before.slice();
    mixupInPlace(x, perm, lam);
    for (let i = 0; i < perm.length; i++) {
      const a = img(before, i);
      const b = img(before, perm[i]!);
      const got = img(x, i);
      for (const k of [0, 1, 2, 500, IMAGE_LEN - 1]) expect(got[k]).toBeCloseTo(lam * a[k]! + (1 - lam) * b[k]!, 1);
    }
    expect(img(x, 8)).toEqual(img(before, 8));
  });

  it('rejects a non-permutation instead of silently reading mixed data', () => {
    expect(() => mixupInPlace(batchOf(3), [1, 1, 0], 0.5)).toThrow(/perm\[1\]: 1.*permutation/);
    expect(() => mixupInPlace(batchOf(3), [1, 0], 0.5)).toThrow(BufferSizeError);
  });
});

describe('cutmixBox', () => {
  it('follows timm: side floor(32*sqrt(1-lam)), edges centre -/+ floor(side/2)', () => {
    // sqrt(1 - 0.75) = 0.5 -> side 16 -> half 8.
    expect(cutmixBox(0.75, 16, 16)).toEqual({ y0: 8, y1: 24, x0: 8, x1: 24 });
    expect(cutmixBox(1, 5, 5)).toEqual({ y0: 5, y1: 5, x0: 5, x1: 5 });
    expect(boxArea(cutmixBox(1, 5, 5))).toBe(0);
  });

  it('clips at the border', () => {
    expect(cutmixBox(0.75, 2, 30)).toEqual({ y0: 0, y1: 10, x0: 22, x1: 32 });
    expect(boxArea(cutmixBox(0, 0, 0))).toBe(16 * 16);
  });
});

describe('cutmixInPlace', () => {
  it('pastes the partner inside the box and leaves the rest alone', () => {
    const perm = [2, 0, 1, 3];
    const box = { y0: 3, y1: 11, x0: 20, x1: 32 };
    const before = batchOf(4);
    const x = before.slice();
    cutmixInPlace(x, perm, box);
    for (let i = 0; i < 4; i++) {
      const own = img(before, i);
      const partner = img(before, perm[i]!);
      const got = img(x, i);
      let wrong = 0;
      for (let k = 0; k < IMAGE_LEN; k++) if (got[k] !== (inBox(box, k) ? partner[k] : own[k])) wrong++;
      expect(wrong).toBe(0);
    }
  });

  it('rejects boxes outside the image', () => {
    expect(() => cutmixInPlace(batchOf(2), [1, 0], { y0: 0, y1: 33, x0: 0, x1: 4 })).toThrow(AugmentOptionError);
  });
});

describe('drawMixParams', () => {
  it('draws a seeded permutation and lam in [0,1], reproducibly', () => {
    const a = drawMixParams(batchRandom(1, 2, 3), { mixupAlpha: 0.4 }, 32);
    const b = drawMixParams(batchRandom(1, 2, 3), { mixupAlpha: 0.4 }, 32);
    expect(a).toEqual(b);
    expect(a.mode).toBe('mixup');
    expect(isPermutation(a.perm)).toBe(true);
    expect(a.lam).toBeGreaterThanOrEqual(0);
    expect(a.lam).toBeLessThanOrEqual(1);
    expect(drawMixParams(batchRandom(1, 2, 4), { mixupAlpha: 0.4 }, 32).perm).not.toEqual(a.perm);
  });

  it('sets the CutMix lam to the exact unpasted fraction of the box', () => {
    for (let key = 0; key < 50; key++) {
      const p = drawMixParams(batchRandom(1, 0, key), { cutmixAlpha: 1 }, 8);
      expect(p.mode).toBe('cutmix');
      expect(p.lam).toBeCloseTo(1 - boxArea(p.box!) / 1024, 12);
    }
  });

  it('with both enabled picks CutMix about half the time', () => {
    let cutmix = 0;
    const n = 4000;
    for (let key = 0; key < n; key++)
      if (drawMixParams(batchRandom(7, 0, key), { mixupAlpha: 0.2, cutmixAlpha: 1 }, 4).mode === 'cutmix') cutmix++;
    expect(Math.abs(cutmix - n / 2)).toBeLessThan(4 * Math.sqrt(n / 4));
  });

  it('with neither enabled is the identity with lam 1', () => {
    const p = drawMixParams(batchRandom(0, 0, 0), {}, 4);
    expect(p).toEqual({ mode: 'none', lam: 1, perm: Int32Array.from([0, 1, 2, 3]), box: null });
  });

  it('rejects alpha <= 0 (omit the option to disable) and bad smoothing', () => {
    const rng = batchRandom(0, 0, 0);
    expect(() => drawMixParams(rng, { mixupAlpha: 0 }, 4)).toThrow(/mixupAlpha: 0 \(expected a finite number > 0\)/);
    expect(() => drawMixParams(rng, { cutmixAlpha: -1 }, 4)).toThrow(/cutmixAlpha: -1/);
    expect(() => drawMixParams(rng, { cutmixAlpha: Number.NaN }, 4)).toThrow(AugmentOptionError);
    expect(() => drawMixParams(rng, { mixupAlpha: 1, labelSmoothing: 1 }, 4)).toThrow(/labelSmoothing/);
  });
});

describe('mixBatch', () => {
  const labels = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  const B = labels.length;

  it('mixup: pixels are the lam-mix of the two sources and targets match, rows summing to 1', () => {
    const before = batchOf(B);
    const x = before.slice();
    const m = mixBatch({ x, labels, seed: 3, epoch: 1, batchKey: 12, mixupAlpha: 0.4, labelSmoothing: 0.1 });
    expect(m.mode).toBe('mixup');
    expect(m.x).toBe(x);
    for (let i = 0; i < B; i++) {
      const j = m.perm[i]!;
      expect(img(x, i)[100]).toBeCloseTo(m.lam * img(before, i)[100]! + (1 - m.lam) * img(before, j)[100]!, 1);
    }
    expect(m.targets).toEqual(mixedTargets({ labels, perm: m.perm, lam: m.lam, labelSmoothing: 0.1 }));
    for (const s of rowSums(m.targets)) expect(s).toBeCloseTo(1, 6);
  });

  it('cutmix: box contents come from the partner and lam is the kept-area fraction', () => {
    const before = batchOf(B);
    // Find a batch key whose box is non-trivial, so the test checks something.
    for (let key = 0; key < 100; key++) {
      const x = before.slice();
      const m = mixBatch({ x, labels, seed: 3, epoch: 1, batchKey: key, cutmixAlpha: 1 });
      const area = boxArea(m.box!);
      if (area === 0 || area === 1024) continue;
      expect(m.lam).toBeCloseTo(1 - area / 1024, 12);
      for (let i = 0; i < B; i++) {
        const j = m.perm[i]!;
        let fromPartner = 0;
        let fromOwn = 0;
        img(x, i).forEach((v, k) => {
          if (v === img(before, j)[k]) fromPartner++;
          if (v === img(before, i)[k]) fromOwn++;
        });
        if (j === i) {
          expect(fromOwn).toBe(IMAGE_LEN);
        } else {
          expect(fromPartner).toBe(area * 3);
          expect(fromOwn).toBe(IMAGE_LEN - area * 3);
        }
        // The label weights equal the pixel shares.
        const row = m.targets.subarray(i * 10, i * 10 + 10);
        if (j !== i) expect(row[labels[j]!]).toBeCloseTo(area / 1024, 6);
      }
      return;
    }
    throw new Error('no batch key gave a partial CutMix box');
  });

  it('depends on (seed, epoch, batchKey) only', () => {
    const run = (batchKey: number) => mixBatch({ x: batchOf(B), labels, seed: 1, epoch: 0, batchKey, mixupAlpha: 1, cutmixAlpha: 1 });
    const a = run(5);
    expect(run(5)).toEqual(a);
    expect(run(6).perm).not.toEqual(a.perm);
  });

  it('without mixing returns softTargets and leaves x untouched', () => {
    const x = batchOf(B);
    const m = mixBatch({ x, labels, seed: 0, epoch: 0, batchKey: 0, labelSmoothing: 0.1 });
    expect(m.mode).toBe('none');
    expect(m.lam).toBe(1);
    expect(x).toEqual(batchOf(B));
    expect(m.targets).toEqual(softTargets({ labels, labelSmoothing: 0.1 }));
  });

  it('reuses output buffers', () => {
    const out = { targets: new Float32Array(B * 10), perm: new Int32Array(B) };
    const m = mixBatch({ x: batchOf(B), labels, seed: 0, epoch: 0, batchKey: 0, mixupAlpha: 1, out });
    expect(m.targets).toBe(out.targets);
    expect(m.perm).toBe(out.perm);
  });

  it('checks x against the labels and leaves x untouched on bad labels', () => {
    expect(() => mixBatch({ x: batchOf(B - 1), labels, seed: 0, epoch: 0, batchKey: 0, mixupAlpha: 1 })).toThrow(BufferSizeError);
    const x = batchOf(2);
    expect(() => mixBatch({ x, labels: [0, 12], seed: 0, epoch: 0, batchKey: 1, mixupAlpha: 1 })).toThrow(/label 12/);
    expect(x).toEqual(batchOf(2));
  });
});
