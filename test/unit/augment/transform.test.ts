import { describe, expect, it } from 'vitest';
import {
  AugmentOptionError,
  BufferSizeError,
  IDENTITY_PARAMS,
  IMAGE_LEN,
  cropFlipJitter,
  croppedGrayMean,
  normalizeImage,
  type TransformParams,
} from '../../../src/augment/index.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../../../src/dataset/cifar10-constants.js';
import { COORD_B, coordG, coordImage, coordR, imageFrom, lcgBytes, norm, pixel, toByte, unnorm } from './images.js';

const params = (p: Partial<TransformParams>): TransformParams => ({ ...IDENTITY_PARAMS, ...p });
const run = (src: Uint8Array, p: Partial<TransformParams>): Float32Array => {
  const dst = new Float32Array(IMAGE_LEN);
  cropFlipJitter(src, dst, params(p));
  return dst;
};
const gray = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;
const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

describe('normalisation', () => {
  it('maps bytes 0 and 255 to (0-mean)/std and (1-mean)/std per channel', () => {
    const out = run(
      imageFrom((r) => (r < 16 ? [0, 0, 0] : [255, 255, 255])),
      {},
    );
    for (let ch = 0; ch < 3; ch++) {
      expect(pixel(out, 0, 0, ch)).toBeCloseTo((0 - CIFAR10_MEAN[ch]!) / CIFAR10_STD[ch]!, 6);
      expect(pixel(out, 31, 31, ch)).toBeCloseTo((1 - CIFAR10_MEAN[ch]!) / CIFAR10_STD[ch]!, 6);
    }
    // Known literals, in case the constants themselves drift.
    expect(pixel(out, 0, 0, 0)).toBeCloseTo(-1.98947, 4);
    expect(pixel(out, 31, 31, 2)).toBeCloseTo(2.11583, 4);
  });

  it('identity parameters leave every pixel in place, only normalised', () => {
    const src = lcgBytes(IMAGE_LEN, 3);
    const out = new Float32Array(IMAGE_LEN);
    normalizeImage(src, out);
    for (let i = 0; i < IMAGE_LEN; i++) expect(out[i]).toBeCloseTo(norm(src[i]! / 255, i % 3), 5);
  });

  it('reads and writes at the given offsets without touching neighbours', () => {
    const src = new Uint8Array(3 * IMAGE_LEN);
    src.set(coordImage(), IMAGE_LEN);
    const dst = new Float32Array(3 * IMAGE_LEN).fill(42);
    normalizeImage(src, dst, IMAGE_LEN, 2 * IMAGE_LEN);
    expect(dst.subarray(0, 2 * IMAGE_LEN).every((v) => v === 42)).toBe(true);
    expect(toByte(pixel(dst, 5, 9, 0, 2), 0)).toBe(coordR(5));
  });
});

describe('random crop (zero padding 4)', () => {
  const src = coordImage();
  const pad = [0, 1, 2].map((ch) => norm(0, ch));

  it('offset (0,0) shifts the image down-right by 4 and pads the top rows and left columns', () => {
    const out = run(src, { dy: 0, dx: 0 });
    for (let ch = 0; ch < 3; ch++) {
      expect(pixel(out, 0, 10, ch)).toBeCloseTo(pad[ch]!, 6);
      expect(pixel(out, 3, 31, ch)).toBeCloseTo(pad[ch]!, 6);
      expect(pixel(out, 20, 3, ch)).toBeCloseTo(pad[ch]!, 6);
    }
    // Output (4,4) is source (0,0); output (31,31) is source (27,27).
    expect(toByte(pixel(out, 4, 4, 0), 0)).toBe(coordR(0));
    expect(toByte(pixel(out, 4, 4, 1), 1)).toBe(coordG(0));
    expect(toByte(pixel(out, 31, 31, 0), 0)).toBe(coordR(27));
    expect(toByte(pixel(out, 31, 31, 1), 1)).toBe(coordG(27));
  });

  it('offset (8,8) shifts up-left by 4 and pads the bottom rows and right columns', () => {
    const out = run(src, { dy: 8, dx: 8 });
    expect(toByte(pixel(out, 0, 0, 0), 0)).toBe(coordR(4));
    expect(toByte(pixel(out, 0, 0, 1), 1)).toBe(coordG(4));
    expect(pixel(out, 28, 0, 0)).toBeCloseTo(pad[0]!, 6);
    expect(pixel(out, 0, 28, 1)).toBeCloseTo(pad[1]!, 6);
  });

  it('every offset and flip moves pixel (r,c) exactly as the padded-crop-then-flip formula says', () => {
    const mismatches: string[] = [];
    for (let dy = 0; dy <= 8; dy++) {
      for (let dx = 0; dx <= 8; dx++) {
        for (const flip of [false, true]) {
          const out = run(src, { dy, dx, flip });
          for (let r = 0; r < 32; r++) {
            for (let c = 0; c < 32; c++) {
              const sr = r + dy - 4;
              const sc = (flip ? 31 - c : c) + dx - 4;
              const inside = sr >= 0 && sr < 32 && sc >= 0 && sc < 32;
              const got = [0, 1, 2].map((ch) => toByte(pixel(out, r, c, ch), ch)).join(',');
              const want = (inside ? [coordR(sr), coordG(sc), COORD_B] : [0, 0, 0]).join(',');
              if (got !== want) mismatches.push(`dy=${dy} dx=${dx} flip=${flip} (${r},${c}): got ${got}, want ${want}`);
            }
          }
        }
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});

describe('horizontal flip', () => {
  it('mirrors columns and keeps rows', () => {
    const out = run(coordImage(), { flip: true });
    for (const [r, c] of [
      [0, 0],
      [7, 3],
      [31, 31],
      [16, 15],
    ] as const) {
      expect(toByte(pixel(out, r, c, 0), 0)).toBe(coordR(r));
      expect(toByte(pixel(out, r, c, 1), 1)).toBe(coordG(31 - c));
    }
  });
});

describe('brightness', () => {
  it('scales [0,1] values by the factor', () => {
    const src = imageFrom(() => [100, 50, 200]);
    for (const b of [0.8, 1.1]) {
      const out = run(src, { brightness: b });
      expect(pixel(out, 3, 4, 0)).toBeCloseTo(norm((b * 100) / 255, 0), 5);
      expect(pixel(out, 3, 4, 1)).toBeCloseTo(norm((b * 50) / 255, 1), 5);
      expect(pixel(out, 3, 4, 2)).toBeCloseTo(norm((b * 200) / 255, 2), 5);
    }
  });

  it('clamps at 1', () => {
    const out = run(
      imageFrom(() => [250, 240, 10]),
      { brightness: 1.2 },
    );
    expect(unnorm(pixel(out, 0, 0, 0), 0)).toBeCloseTo(1, 5);
    expect(unnorm(pixel(out, 0, 0, 1), 1)).toBeCloseTo(1, 5);
    expect(unnorm(pixel(out, 0, 0, 2), 2)).toBeCloseTo((1.2 * 10) / 255, 5);
  });

  it('keeps zero padding black', () => {
    const out = run(
      imageFrom(() => [100, 100, 100]),
      { dy: 0, brightness: 1.2 },
    );
    expect(unnorm(pixel(out, 0, 0, 0), 0)).toBeCloseTo(0, 5);
  });
});

describe('contrast', () => {
  // Top half one colour, bottom half another: the gray mean is the average of their grays.
  const top = [200, 100, 50] as const;
  const bottom = [20, 150, 240] as const;
  const src = imageFrom((r) => (r < 16 ? [...top] : [...bottom]));
  const mean = (gray(...top) + gray(...bottom)) / 2 / 255;

  it('measures the grayscale mean of the cropped image (0.299R + 0.587G + 0.114B)', () => {
    expect(croppedGrayMean(src, 0, 4, 4, 1)).toBeCloseTo(mean, 10);
  });

  it('blends each value with the grayscale mean: c*x + (1-c)*mean', () => {
    for (const c of [0.8, 0.5, 1.2]) {
      const out = run(src, { contrast: c });
      for (let ch = 0; ch < 3; ch++) {
        expect(pixel(out, 0, 0, ch)).toBeCloseTo(norm(clamp01(c * (top[ch]! / 255) + (1 - c) * mean), ch), 5);
        expect(pixel(out, 31, 0, ch)).toBeCloseTo(norm(clamp01(c * (bottom[ch]! / 255) + (1 - c) * mean), ch), 5);
      }
    }
  });

  it('clamps at 0 and 1', () => {
    const dark = imageFrom((r) => (r < 16 ? [0, 0, 0] : [255, 255, 255]));
    const out = run(dark, { contrast: 3 });
    // mean 0.5: 3*0 - 2*0.5 = -1 -> 0; 3*1 - 1 = 2 -> 1.
    expect(unnorm(pixel(out, 0, 0, 0), 0)).toBeCloseTo(0, 5);
    expect(unnorm(pixel(out, 31, 0, 0), 0)).toBeCloseTo(1, 5);
  });

  it('counts padding in the mean and lifts padded pixels towards it (torchvision crop-then-jitter)', () => {
    const flat = imageFrom(() => [100, 100, 100]);
    const padRows = 4;
    const m = ((100 / 255) * (32 - padRows)) / 32;
    expect(croppedGrayMean(flat, 0, 0, 4, 1)).toBeCloseTo(m, 10);
    const out = run(flat, { dy: 0, contrast: 0.8 });
    expect(unnorm(pixel(out, 0, 0, 1), 1)).toBeCloseTo(0.2 * m, 5);
    expect(unnorm(pixel(out, 10, 0, 1), 1)).toBeCloseTo(0.8 * (100 / 255) + 0.2 * m, 5);
  });
});

describe('jitter order', () => {
  // Bright values clip under brightness 1.2, so the two orders give different results.
  const src = imageFrom((r) => (r < 16 ? [250, 250, 250] : [50, 50, 50]));
  const hi = 250 / 255;
  const lo = 50 / 255;
  const b = 1.2;
  const c = 0.8;

  it('brightness first: contrast uses the mean of the brightened, clamped image', () => {
    const bh = clamp01(b * hi);
    const bl = clamp01(b * lo);
    const m = (bh + bl) / 2;
    const out = run(src, { brightness: b, contrast: c, contrastFirst: false });
    expect(unnorm(pixel(out, 0, 0, 0), 0)).toBeCloseTo(clamp01(c * bh + (1 - c) * m), 5);
    expect(unnorm(pixel(out, 31, 0, 0), 0)).toBeCloseTo(clamp01(c * bl + (1 - c) * m), 5);
  });

  it('contrast first: brightness scales the contrast-adjusted values', () => {
    const m = (hi + lo) / 2;
    const out = run(src, { brightness: b, contrast: c, contrastFirst: true });
    expect(unnorm(pixel(out, 0, 0, 0), 0)).toBeCloseTo(clamp01(b * clamp01(c * hi + (1 - c) * m)), 5);
    expect(unnorm(pixel(out, 31, 0, 0), 0)).toBeCloseTo(clamp01(b * clamp01(c * lo + (1 - c) * m)), 5);
  });

  it('crop, flip and jitter compose: geometry first, then the value map', () => {
    const coords = coordImage();
    const out = run(coords, { dy: 2, dx: 7, flip: true, brightness: 0.9 });
    // Output (10, 5) comes from source (8, 29).
    expect(unnorm(pixel(out, 10, 5, 0), 0)).toBeCloseTo((0.9 * coordR(8)) / 255, 5);
    expect(unnorm(pixel(out, 10, 5, 1), 1)).toBeCloseTo((0.9 * coordG(29)) / 255, 5);
  });
});

describe('parameter and buffer checks', () => {
  const src = coordImage();
  const dst = new Float32Array(IMAGE_LEN);

  it('rejects crop offsets outside 0..8 naming the value', () => {
    expect(() => cropFlipJitter(src, dst, params({ dx: 9 }))).toThrow(AugmentOptionError);
    expect(() => cropFlipJitter(src, dst, params({ dy: -1 }))).toThrow(/crop dy: -1/);
    expect(() => cropFlipJitter(src, dst, params({ dx: 1.5 }))).toThrow(/crop dx: 1.5/);
  });

  it('rejects negative or non-finite jitter factors', () => {
    expect(() => cropFlipJitter(src, dst, params({ brightness: -0.1 }))).toThrow(/brightness factor: -0.1/);
    expect(() => cropFlipJitter(src, dst, params({ contrast: Number.NaN }))).toThrow(AugmentOptionError);
  });

  it('rejects short buffers', () => {
    const err = (() => {
      try {
        cropFlipJitter(src, new Float32Array(100), IDENTITY_PARAMS);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(BufferSizeError);
    expect(err).toMatchObject({ length: 100, required: IMAGE_LEN });
    expect(() => cropFlipJitter(src, dst, IDENTITY_PARAMS, 1)).toThrow(BufferSizeError);
  });
});
