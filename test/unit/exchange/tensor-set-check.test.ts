import { describe, expect, it } from 'vitest';
import {
  MissingTensorError,
  NonFiniteTensorError,
  TensorChecksumError,
  TensorDtypeError,
  TensorLayoutError,
  TensorSetError,
  TensorSetLengthError,
  TensorShapeError,
  UnknownTensorError,
  checkTensorSet,
  firstNonFinite,
  wrapTensorSet,
  type TensorEntry,
  type TensorSet,
} from '../../../src/exchange/index.js';
import { SMALL_MODEL, SMALL_SPECS, smallTensorSet } from '../../fixtures/tensor-sets.js';

const _specs = SMALL_SPECS;
const model = SMALL_MODEL;
const good = () => smallTensorSet(4, (i, k) => Math.sin(i + k));

/** Catches the error checkTensorSet throws, to assert its class and typed fields. */
function refusal(set: TensorSet, expected: readonly TensorEntry[] = model): TensorSetError {
  try {
    checkTensorSet(set, expected);
  } catch (err) {
    if (err instanceof TensorSetError) return err;
    throw err;
  }
  throw new Error('accepted');
}

const withEntries = (set: TensorSet, entries: TensorEntry[]): TensorSet => ({ ...set, entries });
const edit = (set: TensorSet, name: string, change: Partial<TensorEntry>): TensorSet =>
  withEntries(
    set,
    set.entries.map((e) => (e.name === name ? { ...e, ...change } : e)),
  );

describe('checkTensorSet', () => {
  it('accepts a set matching the model', () => {
    expect(() => checkTensorSet(good(), model)).not.toThrow();
  });

  it('refuses a wrong shape, naming the tensor, the expected and the actual shape', () => {
    const err = refusal(edit(good(), 'a/kernel', { shape: [5, 3] }));
    expect(err).toBeInstanceOf(TensorShapeError);
    expect(err).toMatchObject({ tensor: 'a/kernel', expected: [3, 5], got: [5, 3] });
  });

  it('refuses a missing tensor and an unknown (extra or renamed) one', () => {
    const set = good();
    const missing = refusal(
      withEntries(
        set,
        set.entries.filter((e) => e.name !== 'b/moving_mean'),
      ),
    );
    expect(missing).toBeInstanceOf(MissingTensorError);
    expect(missing.tensor).toBe('b/moving_mean');
    const extra = refusal(
      set,
      model.filter((e) => e.name !== 'c/bias'),
    );
    expect(extra).toBeInstanceOf(UnknownTensorError);
    expect(extra.tensor).toBe('c/bias');
    expect(refusal(edit(set, 'b/moving_mean', { name: 'b/moving_var' }))).toBeInstanceOf(UnknownTensorError);
  });

  it('refuses a wrong dtype and a wrong trainable flag', () => {
    const dtype = refusal(edit(good(), 'c/bias', { dtype: 'float16' as 'float32' }));
    expect(dtype).toBeInstanceOf(TensorDtypeError);
    expect(dtype).toMatchObject({ tensor: 'c/bias', expected: 'float32', got: 'float16' });
    expect(refusal(edit(good(), 'b/moving_mean', { trainable: true }))).toBeInstanceOf(TensorLayoutError);
  });

  it('refuses overlapping and gapped offsets, a byte length not matching the shape, and unsorted names', () => {
    const overlap = refusal(edit(good(), 'b/moving_mean', { byteOffset: 56 }));
    expect(overlap).toBeInstanceOf(TensorLayoutError);
    expect(overlap).toMatchObject({ tensor: 'b/moving_mean', expected: 60, got: 56 });
    expect(overlap.message).toMatch(/overlap/);
    const gap = refusal(edit(good(), 'c/bias', { byteOffset: 80 }));
    expect(gap.message).toMatch(/gap/);
    expect(refusal(edit(good(), 'c/bias', { byteLength: 24 }))).toMatchObject({ tensor: 'c/bias', expected: 28, got: 24 });
    const rename = (e: TensorEntry) => (e.name === 'a/kernel' ? { ...e, name: 'd/kernel' } : e);
    const unsorted = refusal(withEntries(good(), good().entries.map(rename)), model.map(rename));
    expect(unsorted).toBeInstanceOf(TensorLayoutError);
    expect(unsorted.message).toMatch(/not sorted: comes after d\/kernel/);
  });

  it('refuses a truncated buffer and one with trailing bytes', () => {
    const set = good();
    const short = refusal({ ...set, buffer: set.buffer.subarray(0, set.buffer.byteLength - 4) });
    expect(short).toBeInstanceOf(TensorSetLengthError);
    expect(short).toMatchObject({ expected: 104, got: 100 });
    const long = new Uint8Array(108);
    long.set(set.buffer);
    expect(refusal({ ...set, buffer: long })).toBeInstanceOf(TensorSetLengthError);
  });

  it('refuses a CRC mismatch after one flipped byte', () => {
    const set = good();
    const flipped = set.buffer.slice();
    flipped[37]! ^= 0x10;
    const err = refusal({ ...set, buffer: flipped });
    expect(err).toBeInstanceOf(TensorChecksumError);
    expect(err.expected).toBe(set.crc32c);
    expect(() => checkTensorSet({ ...set, buffer: flipped }, model, { crc: false })).not.toThrow();
  });

  it.each([
    ['NaN', Number.NaN, 17, 'b/moving_mean', 2],
    ['+Infinity', Number.POSITIVE_INFINITY, 25, 'c/bias', 6],
    ['-Infinity', Number.NEGATIVE_INFINITY, 0, 'a/kernel', 0],
  ])('refuses %s, naming the tensor and the first bad index', (_label, value, at, tensor, index) => {
    const set = good();
    const floats = new Float32Array(set.buffer.buffer);
    floats[at] = value;
    if (at + 1 < floats.length) floats[at + 1] = Number.NaN; // a later bad value is not the one reported
    const err = refusal(wrapTensorSet(set.entries, floats, set.version));
    expect(err).toBeInstanceOf(NonFiniteTensorError);
    expect(err).toMatchObject({ tensor, index, got: value });
  });

  it('accepts the largest finite floats, subnormals and negative zero', () => {
    const set = good();
    const floats = new Float32Array(set.buffer.buffer);
    floats.set([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0], 3);
    expect(() => checkTensorSet(wrapTensorSet(set.entries, floats, 1), model)).not.toThrow();
  });

  it('scans 11.2 M floats for NaN/Inf in milliseconds', () => {
    const words = new Int32Array(new Float32Array(11_200_000).fill(0.5).buffer);
    firstNonFinite(words, 0, words.length); // warm the JIT
    const t0 = performance.now();
    expect(firstNonFinite(words, 0, words.length)).toBe(-1);
    const ms = performance.now() - t0;
    new Float32Array(words.buffer)[11_000_000] = Number.NaN;
    expect(firstNonFinite(words, 0, words.length)).toBe(11_000_000);
    console.log(`NaN/Inf scan of 11.2 M floats: ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(100); // ~10 ms here; loose for a loaded 2-core machine
  });
});
