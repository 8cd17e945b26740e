import { describe, expect, it } from 'vitest';
import {
  AugmentOptionError,
  BufferSizeError,
  DatasetShapeError,
  IDENTITY_PARAMS,
  IMAGE_LEN,
  PRESET_SPECS,
  SampleIndexError,
  augmentBatch,
  cropFlipJitter,
  drawTransformParams,
  normalizeBatch,
  normalizeImage,
  parsePreset,
  sampleRandom,
  type AugmentPreset,
  type TransformParams,
} from '../../../src/augment/index.js';
import { lcgBytes } from './images.js';

const N = 64;
const images = lcgBytes(N * IMAGE_LEN, 11);
const labels = Uint8Array.from({ length: N }, (_, i) => i % 10);
const image = (x: Float32Array, i: number): Float32Array => x.subarray(i * IMAGE_LEN, (i + 1) * IMAGE_LEN);
const batch = (indices: number[], preset: AugmentPreset = 'full', epoch = 0, seed = 5) =>
  augmentBatch({ images, labels, indices, epoch, seed, preset });
const drawn = (preset: AugmentPreset, seed: number, epoch: number, index: number): TransformParams =>
  drawTransformParams(sampleRandom(seed, epoch, index), PRESET_SPECS[preset], { ...IDENTITY_PARAMS });

describe('presets', () => {
  it('none only normalises, whatever the seed', () => {
    const { x, labels: y } = batch([3, 9, 0], 'none', 2, 99);
    for (const [pos, idx] of [3, 9, 0].entries()) {
      const want = new Float32Array(IMAGE_LEN);
      normalizeImage(images, want, idx * IMAGE_LEN);
      expect(image(x, pos)).toEqual(want);
      expect(y[pos]).toBe(labels[idx]);
    }
  });

  it('normalizeBatch (test time) equals the none preset', () => {
    const a = normalizeBatch({ images, labels, indices: [4, 5] });
    expect(a).toEqual(batch([4, 5], 'none'));
  });

  it('basic crops and flips but never jitters; full also jitters in [0.8, 1.2]', () => {
    for (let i = 0; i < 200; i++) {
      const b = drawn('basic', 1, 0, i);
      expect(b.brightness).toBe(1);
      expect(b.contrast).toBe(1);
      const f = drawn('full', 1, 0, i);
      expect(f.brightness).toBeGreaterThanOrEqual(0.8);
      expect(f.brightness).toBeLessThanOrEqual(1.2);
      expect(f.contrast).toBeGreaterThanOrEqual(0.8);
      expect(f.contrast).toBeLessThanOrEqual(1.2);
      // Fixed draw order: the same sample gets the same geometry under both presets.
      expect([f.dx, f.dy, f.flip]).toEqual([b.dx, b.dy, b.flip]);
    }
  });

  it('augmentBatch applies exactly the drawn parameters', () => {
    const indices = [10, 2, 33];
    const { x } = batch(indices, 'full', 3, 8);
    for (const [pos, idx] of indices.entries()) {
      const want = new Float32Array(IMAGE_LEN);
      cropFlipJitter(images, want, drawn('full', 8, 3, idx), idx * IMAGE_LEN);
      expect(image(x, pos)).toEqual(want);
    }
  });

  it('parsePreset accepts the three names and rejects others', () => {
    expect(parsePreset('basic')).toBe('basic');
    expect(() => parsePreset('heavy')).toThrow(/preset: "heavy".*none \| basic \| full/);
    expect(() => parsePreset('toString')).toThrow(AugmentOptionError);
  });
});

describe('parameter distributions', () => {
  const n = 18_000;
  const dx = new Array<number>(9).fill(0);
  const dy = new Array<number>(9).fill(0);
  let flips = 0;
  let contrastFirst = 0;
  let brightness = 0;
  for (let i = 0; i < n; i++) {
    const p = drawn('full', 123, 7, i);
    dx[p.dx]!++;
    dy[p.dy]!++;
    if (p.flip) flips++;
    if (p.contrastFirst) contrastFirst++;
    brightness += p.brightness;
  }

  it('crop offsets are uniform over 0..8 on both axes', () => {
    // Chi-square, 8 degrees of freedom: p(chi2 > 26.1) = 0.001.
    for (const bins of [dx, dy]) {
      const chi2 = bins.reduce((acc, b) => acc + (b - n / 9) ** 2 / (n / 9), 0);
      expect(chi2).toBeLessThan(26.1);
    }
  });

  it('flip and jitter order are each 50/50, brightness centred on 1', () => {
    // 4 standard deviations of a binomial(18000, 0.5) is 268.
    expect(Math.abs(flips - n / 2)).toBeLessThan(268);
    expect(Math.abs(contrastFirst - n / 2)).toBeLessThan(268);
    expect(brightness / n).toBeCloseTo(1, 2);
  });
});

describe('determinism across workers and batches', () => {
  it('an index gets the same image whatever batch it is in and at whatever position', () => {
    const a = batch([7, 1, 2, 3]);
    const b = batch([50, 40, 7]);
    const c = batch([7]);
    expect(image(b.x, 2)).toEqual(image(a.x, 0));
    expect(image(c.x, 0)).toEqual(image(a.x, 0));
    // Sharding one batch across two "workers" reproduces it exactly.
    const whole = batch([5, 6, 7, 8]);
    const left = batch([5, 6]);
    const right = batch([7, 8]);
    expect(whole.x).toEqual(Float32Array.from([...left.x, ...right.x]));
  });

  it('different epochs (and seeds) give different augmentations', () => {
    const indices = Array.from({ length: 16 }, (_, i) => i);
    const e0 = batch(indices, 'full', 0);
    const e1 = batch(indices, 'full', 1);
    const s1 = batch(indices, 'full', 0, 6);
    const differing = (u: Float32Array, v: Float32Array): number =>
      indices.filter((i) => image(u, i).some((val, k) => val !== image(v, i)[k])).length;
    // A sample can draw identical parameters by chance (p ~ 1/162 for the geometry alone), so not all need differ.
    expect(differing(e0.x, e1.x)).toBeGreaterThanOrEqual(14);
    expect(differing(e0.x, s1.x)).toBeGreaterThanOrEqual(14);
    expect(batch(indices, 'full', 0).x).toEqual(e0.x);
  });
});

describe('output buffers', () => {
  it('writes into the given buffers and returns them', () => {
    const out = { x: new Float32Array(3 * IMAGE_LEN), labels: new Int32Array(3) };
    const r = augmentBatch({ images, labels, indices: [1, 2, 3], epoch: 0, seed: 1, preset: 'basic', out });
    expect(r.x).toBe(out.x);
    expect(r.labels).toBe(out.labels);
    expect(Array.from(r.labels)).toEqual([1, 2, 3]);
  });

  it('returns views for a short last batch in a larger buffer', () => {
    const out = { x: new Float32Array(4 * IMAGE_LEN), labels: new Int32Array(4) };
    const r = augmentBatch({ images, labels, indices: [9, 8], epoch: 0, seed: 1, preset: 'basic', out });
    expect(r.x.length).toBe(2 * IMAGE_LEN);
    expect(r.x.buffer).toBe(out.x.buffer);
    expect(Array.from(out.labels)).toEqual([9, 8, 0, 0]);
  });

  it('rejects buffers that are too small', () => {
    const out = { x: new Float32Array(IMAGE_LEN), labels: new Int32Array(2) };
    expect(() => augmentBatch({ images, labels, indices: [0, 1], epoch: 0, seed: 1, preset: 'basic', out })).toThrow(BufferSizeError);
  });
});

describe('input checks', () => {
  it('names a bad index, its batch position and the split size', () => {
    let err: unknown;
    try {
      batch([0, N]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SampleIndexError);
    expect(err).toMatchObject({ index: N, position: 1, datasetSize: N });
    expect(() => batch([-1])).toThrow(SampleIndexError);
    expect(() => batch([0.5])).toThrow(SampleIndexError);
  });

  it('rejects images and labels that disagree', () => {
    expect(() => augmentBatch({ images: images.subarray(1), labels, indices: [0], epoch: 0, seed: 0, preset: 'none' })).toThrow(
      /not a multiple of 3072/,
    );
    expect(() => augmentBatch({ images, labels: labels.subarray(1), indices: [0], epoch: 0, seed: 0, preset: 'none' })).toThrow(
      DatasetShapeError,
    );
  });

  it('rejects bad seeds, epochs and presets', () => {
    expect(() => batch([0], 'full', -1)).toThrow(/epoch: -1/);
    expect(() => batch([0], 'full', 0, 1.5)).toThrow(/seed: 1.5/);
    expect(() => batch([0], 'heavy' as AugmentPreset)).toThrow(AugmentOptionError);
  });
});
