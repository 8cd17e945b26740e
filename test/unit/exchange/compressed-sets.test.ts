import { describe, expect, it } from 'vitest';
import {
  NonFiniteTensorError,
  TensorChecksumError,
  TensorDtypeError,
  TensorOverflowError,
  TensorSetAssembler,
  TensorSetSink,
  checkTensorSet,
  chunkTensorSet,
  contributionWire,
  decodeHalf,
  encodeTensorSet,
  entriesIn,
  parameterWire,
  tensorSetCrc32c,
  tensorSetValues,
  tensorView,
  type HalfDtype,
  type TensorSet,
  type WireFormat,
} from '../../../src/exchange/index.js';
import type { TensorChunk, TensorManifest } from '../../../proto/gen/fleet/v1/coordinator.js';
import { SMALL_MODEL, smallTensorSet } from '../../fixtures/tensor-sets.js';

const float32 = smallTensorSet(9, (i, k) => Math.cos(i * 3 + k) * (k === 1 ? 1000 : 0.01));
const values = tensorSetValues(float32);
const FLOATS = values.length; // 26

const wire = (dtype: HalfDtype): WireFormat => ({ dtype, rounding: 'nearest' });

/** What the receiver should end with: each value through the format and back. */
function expectedValues(set: TensorSet, dtype: HalfDtype): Float32Array {
  const out = new Float32Array(set.buffer.byteLength / 2);
  decodeHalf(dtype, new Uint16Array(set.buffer.buffer, set.buffer.byteOffset, out.length), new Uint32Array(out.buffer));
  return out;
}

/** The messages of `set` in `chunkBytes` chunks, each copied to an odd address (as a network may deliver it). */
function delivered(set: TensorSet, chunkBytes: number): TensorChunk[] {
  return [...chunkTensorSet(set, chunkBytes)].map((c) => {
    if (c.part?.$case !== 'data') return c;
    const backing = Buffer.alloc(c.part.value.length + 1);
    backing.set(c.part.value, 1);
    return { part: { $case: 'data' as const, value: backing.subarray(1) } };
  });
}

function sink(expected = entriesIn(SMALL_MODEL, 'float16'), scratch = 5) {
  const got: number[] = [];
  const s = new TensorSetSink(
    (floats) => {
      got.push(...floats);
      return floats.findIndex((v) => !Number.isFinite(v));
    },
    { expected, scratch: new Float32Array(scratch) },
  );
  return { got, s };
}

function feed(receiver: { onManifest(m: TensorManifest): void; onData(d: Uint8Array): void }, chunks: readonly TensorChunk[]): void {
  for (const c of chunks) {
    if (c.part?.$case === 'manifest') receiver.onManifest(c.part.value);
    else if (c.part?.$case === 'data') receiver.onData(c.part.value);
  }
}

describe('compressed tensor sets (--compress fp16 / bf16)', () => {
  it.each(['float16', 'bfloat16'] as const)(
    '%s: half the bytes, the dtype in the manifest, CRC over the bytes as sent; the receivers decode to float32',
    (dtype) => {
      const set = encodeTensorSet(float32.entries, values, 9, wire(dtype));
      expect(set.buffer.byteLength).toBe(float32.buffer.byteLength / 2);
      expect(set.entries.map((e) => [e.dtype, e.byteOffset, e.byteLength])).toEqual([
        [dtype, 0, 30],
        [dtype, 30, 8],
        [dtype, 38, 14],
      ]);
      const [first] = [...chunkTensorSet(set)];
      expect(first?.part?.$case === 'manifest' && first.part.value.tensors.map((t) => t.dtype)).toEqual([dtype, dtype, dtype]);
      checkTensorSet(set, entriesIn(SMALL_MODEL, dtype));
      const want = expectedValues(set, dtype);
      expect(tensorSetValues(set)).toEqual(want);
      for (const chunkBytes of [1, 3, 7, 16, 1 << 20]) {
        const assembler = new TensorSetAssembler({ expected: entriesIn(SMALL_MODEL, dtype) });
        for (const c of delivered(set, chunkBytes)) assembler.push(c);
        const got = assembler.finish();
        expect(tensorSetValues(got), `assembler, chunks of ${chunkBytes}`).toEqual(want);
        expect(got.entries).toEqual(SMALL_MODEL);
        expect([got.wireDtype, got.wireBytes]).toEqual([dtype, FLOATS * 2]);
        // The set handed back is an ordinary float32 set: views, checks and its own CRC.
        expect(tensorView(got, 'c/bias')).toEqual(want.subarray(19));
        checkTensorSet(got, SMALL_MODEL);
        const { got: summed, s } = sink(entriesIn(SMALL_MODEL, dtype), 4);
        feed(s, delivered(set, chunkBytes));
        s.finish();
        expect(Float32Array.from(summed), `sink, chunks of ${chunkBytes}`).toEqual(want);
      }
    },
  );

  it('a float32 set still travels as it is, with no copy', () => {
    const set = encodeTensorSet(float32.entries, values, 9, parameterWire('none'));
    expect(set.buffer.buffer).toBe(values.buffer);
    expect(set.crc32c).toBe(float32.crc32c);
    expect(set.entries).toEqual(float32.entries);
  });

  it('reuses the buffer it is given, when it is the right size', () => {
    const into = new Uint16Array(FLOATS);
    expect(encodeTensorSet(float32.entries, values, 1, wire('float16'), into).buffer.buffer).toBe(into.buffer);
    expect(encodeTensorSet(float32.entries, values, 1, wire('float16'), new Uint16Array(3)).buffer.byteLength).toBe(FLOATS * 2);
  });

  it('refuses to encode a value float16 cannot hold, naming the tensor and index; bfloat16 carries it', () => {
    const big = Float32Array.from(values);
    big[20] = 1e6; // c/bias[1]
    const err = (() => {
      try {
        encodeTensorSet(float32.entries, big, 1, wire('float16'));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(TensorOverflowError);
    expect(err).toMatchObject({ tensor: 'c/bias', index: 1, got: 1e6, dtype: 'float16' });
    expect((err as Error).message).toMatch(/bf16/);
    // Stochastic rounding names it the same way.
    expect(() =>
      encodeTensorSet(float32.entries, big, 1, { dtype: 'float16', rounding: 'stochastic', key: { seed: 1, round: 1, sender: 0 } }),
    ).toThrow(TensorOverflowError);
    const bf = encodeTensorSet(float32.entries, big, 1, wire('bfloat16'));
    expect(tensorView(bf, 'c/bias')[1]).toBe(999424); // 1e6 to 8 significant bits
  });

  it('a corrupted byte is a checksum fault for both receivers', () => {
    const set = encodeTensorSet(float32.entries, values, 9, wire('bfloat16'));
    const chunks = delivered(set, 16);
    const data = chunks[2]!.part?.$case === 'data' ? chunks[2]!.part.value : null;
    data![3]! ^= 0x10;
    const assembler = new TensorSetAssembler({ expected: entriesIn(SMALL_MODEL, 'bfloat16') });
    for (const c of chunks) assembler.push(c);
    expect(() => assembler.finish()).toThrow(TensorChecksumError);
    const { s } = sink(entriesIn(SMALL_MODEL, 'bfloat16'));
    feed(s, chunks);
    expect(() => s.finish()).toThrow(TensorChecksumError);
  });

  it('a dtype other than the expected one is refused on the manifest, before any data', () => {
    const fp16 = encodeTensorSet(float32.entries, values, 9, wire('float16'));
    for (const [set, expected] of [
      [fp16, entriesIn(SMALL_MODEL, 'bfloat16')],
      [fp16, SMALL_MODEL],
      [float32, entriesIn(SMALL_MODEL, 'float16')],
    ] as const) {
      const [first] = [...chunkTensorSet(set)];
      const manifest = first?.part?.$case === 'manifest' ? first.part.value : null;
      expect(() => new TensorSetAssembler({ expected }).onManifest(manifest!)).toThrow(TensorDtypeError);
      expect(() => sink(expected).s.onManifest(manifest!)).toThrow(TensorDtypeError);
    }
    // A dtype fleet does not know, and a set mixing two, are refused whatever is expected.
    const [first] = [...chunkTensorSet(fp16)];
    const manifest = first?.part?.$case === 'manifest' ? first.part.value : null;
    const float8 = { ...manifest!, tensors: manifest!.tensors.map((t) => ({ ...t, dtype: 'float8' })) };
    expect(() => new TensorSetAssembler({}).onManifest(float8)).toThrow(TensorDtypeError);
    const mixed = { ...manifest!, tensors: manifest!.tensors.map((t, i) => (i === 2 ? { ...t, dtype: 'bfloat16' } : t)) };
    expect(() => new TensorSetAssembler({}).onManifest(mixed)).toThrow(/one dtype a set/);
  });

  it.each([
    ['float16', 'Inf (0x7c00)', 0x7c00, Number.POSITIVE_INFINITY],
    ['float16', 'NaN (0xfe00)', 0xfe00, Number.NaN],
    ['bfloat16', '-Inf (0xff80)', 0xff80, Number.NEGATIVE_INFINITY],
  ] as const)('%s: a sender that puts %s on the wire is refused after decoding, naming the tensor', (dtype, _label, bits, value) => {
    const set = encodeTensorSet(float32.entries, values, 9, wire(dtype));
    const halves = new Uint16Array(set.buffer.buffer, set.buffer.byteOffset, FLOATS);
    halves[16] = bits; // b/moving_mean[1]
    const tampered = withHalves(set, halves);
    const assembler = new TensorSetAssembler({ expected: entriesIn(SMALL_MODEL, dtype) });
    for (const c of delivered(tampered, 7)) assembler.push(c);
    const refusals: (() => unknown)[] = [() => assembler.finish()];
    const { s } = sink(entriesIn(SMALL_MODEL, dtype), 3);
    feed(s, delivered(tampered, 7));
    refusals.push(() => s.finish());
    refusals.push(() => checkTensorSet(tampered, entriesIn(SMALL_MODEL, dtype)));
    for (const refuse of refusals) {
      let err: unknown = null;
      try {
        refuse();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NonFiniteTensorError);
      expect(err).toMatchObject({ tensor: 'b/moving_mean', index: 1 });
      expect(
        Object.is((err as NonFiniteTensorError).got, value) || (Number.isNaN(value) && Number.isNaN((err as NonFiniteTensorError).got)),
      ).toBe(true);
    }
  });

  it('the rounding of each transfer: parameters to workers and gradients to nearest, parameter contributions stochastically', () => {
    const key = { seed: 3, round: 5, sender: 1 };
    expect(parameterWire('fp16')).toEqual({ dtype: 'float16', rounding: 'nearest' });
    expect(parameterWire('bf16')).toEqual({ dtype: 'bfloat16', rounding: 'nearest' });
    expect(contributionWire('bf16', 'gradients', key)).toEqual({ dtype: 'bfloat16', rounding: 'nearest' });
    expect(contributionWire('bf16', 'parameters', key)).toEqual({ dtype: 'bfloat16', rounding: 'stochastic', key });
    expect(contributionWire('none', 'parameters', key)).toEqual({ dtype: 'float32', rounding: 'nearest' });
    // Stochastic sets are reproducible by key, and a tensor's draws do not depend on the others sent with it.
    const sr = (k: typeof key) => tensorSetValues(encodeTensorSet(float32.entries, values, 1, contributionWire('bf16', 'parameters', k)));
    expect(sr(key)).toEqual(sr({ ...key }));
    expect(sr(key)).not.toEqual(sr({ ...key, sender: 0 }));
  });
});

/** `set` with its buffer replaced by `halves`, CRC recomputed: a sender that means to send them. */
function withHalves(set: TensorSet, halves: Uint16Array): TensorSet {
  const buffer = new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength);
  return { ...set, buffer, crc32c: tensorSetCrc32c(buffer) };
}
