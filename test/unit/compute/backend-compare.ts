import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';

import { installWasmKernels } from '../../../src/compute/index.js';

/** Deterministic uniform [-1, 1) values (mulberry32), so failures reproduce. */
export function randomValues(size: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm') installWasmKernels();
  if (tf.getBackend() !== name) {
    if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed`);
  }
  await tf.ready();
}

/** Runs `f` on a backend and returns its outputs as plain arrays. */
export async function runOn(name: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await useBackend(name);
  const outs = tf.tidy(f);
  const list = Array.isArray(outs) ? outs : [outs];
  const values = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(list);
  return values;
}

/** max|a - b| / max|b|: the error measure of the brief (b is the reference). */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
    maxRef = Math.max(maxRef, Math.abs(b[i] as number));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

export async function compareBackends(f: () => tf.Tensor | tf.Tensor[]): Promise<number[]> {
  const ref = await runOn('cpu', f);
  const got = await runOn('wasm', f);
  return ref.map((r, i) => relativeError(got[i] as Float32Array, r));
}

/** A convolution to check a gradient kernel on: input NHWC, filter size, output channels, strides, padding. */
export interface ConvCase {
  x: [number, number, number, number];
  k: [number, number];
  cout: number;
  stride: [number, number];
  pad: 'same' | 'valid' | number;
}
