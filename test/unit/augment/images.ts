import { IMAGE_LEN, IMAGE_SIZE } from '../../../src/augment/index.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../../../src/dataset/cifar10-constants.js';

/** Byte values encoding position: R = 8r+1, G = 8c+2, B = 7. Never 0, so padding is recognisable. */
export const coordR = (r: number): number => 8 * r + 1;
export const coordG = (c: number): number => 8 * c + 2;
export const COORD_B = 7;

export function coordImage(): Uint8Array {
  const img = new Uint8Array(IMAGE_LEN);
  for (let r = 0; r < IMAGE_SIZE; r++) {
    for (let c = 0; c < IMAGE_SIZE; c++) {
      const o = (r * IMAGE_SIZE + c) * 3;
      img[o] = coordR(r);
      img[o + 1] = coordG(c);
      img[o + 2] = COORD_B;
    }
  }
  return img;
}

/** Every pixel (r, g, b) of the image set by fn(row, col). */
export function imageFrom(fn: (r: number, c: number) => [number, number, number]): Uint8Array {
  const img = new Uint8Array(IMAGE_LEN);
  for (let r = 0; r < IMAGE_SIZE; r++) {
    for (let c = 0; c < IMAGE_SIZE; c++) img.set(fn(r, c), (r * IMAGE_SIZE + c) * 3);
  }
  return img;
}

/** Expected normalised output for a [0,1] value on a channel, computed independently of augment/. */
export const norm = (unit: number, ch: number): number => (unit - CIFAR10_MEAN[ch]!) / CIFAR10_STD[ch]!;

/** Back from a normalised output to the [0,1] value that produced it. */
export const unnorm = (v: number, ch: number): number => v * CIFAR10_STD[ch]! + CIFAR10_MEAN[ch]!;

/** Back to the byte (for outputs made without jitter). */
export const toByte = (v: number, ch: number): number => Math.round(unnorm(v, ch) * 255) + 0; // + 0 turns -0 into 0

export function pixel(x: Float32Array, r: number, c: number, ch: number, image = 0): number {
  return x[image * IMAGE_LEN + (r * IMAGE_SIZE + c) * 3 + ch]!;
}

/** Deterministic filler for random-looking test data (not the code under test's RNG). */
export function lcgBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}
