import { describe, expect, it } from 'vitest';
import {
  ChunkSizeError,
  MissingTensorError,
  NonFiniteTensorError,
  OversizedTensorSetError,
  TensorChecksumError,
  TensorDtypeError,
  TensorSetAssembler,
  TensorSetLengthError,
  TensorSetOverflowError,
  TensorStreamProtocolError,
  chunkTensorSet,
  fromProtoManifest,
  manifestOf,
  packTensorSet,
  tensorView,
  toProtoManifest,
  type TensorSet,
} from '../../../src/exchange/index.js';
import type { TensorChunk, TensorManifest } from '../../../proto/gen/fleet/v1/coordinator.js';
import { SMALL_MODEL, SMALL_SPECS, smallTensorSet } from '../../fixtures/tensor-sets.js';

const specs = SMALL_SPECS;
const model = SMALL_MODEL;
const set: TensorSet = smallTensorSet(9, (i, k) => Math.cos(i * 3 + k) * 100);
const TOTAL = 104;

function messages(s: TensorSet, chunkBytes: number): { manifest: TensorManifest; data: Buffer[] } {
  const [first, ...rest] = [...chunkTensorSet(s, chunkBytes)];
  if (first?.part?.$case !== 'manifest') throw new Error('no manifest first');
  return { manifest: first.part.value, data: rest.map((m) => (m.part?.$case === 'data' ? m.part.value : Buffer.alloc(0))) };
}

function assemble(chunks: readonly TensorChunk[], options: ConstructorParameters<typeof TensorSetAssembler>[0] = {}): TensorSet {
  const assembler = new TensorSetAssembler({ expected: model, ...options });
  for (const c of chunks) assembler.push(c);
  return assembler.finish();
}

describe('chunked tensor sets', () => {
  it.each([1, 3, 4, 7, 16, 100, TOTAL, TOTAL + 1, 1 << 20])('round-trips bit-identical in chunks of %i bytes', (chunkBytes) => {
    const chunks = [...chunkTensorSet(set, chunkBytes)];
    expect(chunks).toHaveLength(1 + Math.ceil(TOTAL / chunkBytes));
    // Copies of each chunk, as a network would deliver them.
    const delivered = chunks.map((c) =>
      c.part?.$case === 'data' ? { part: { $case: 'data' as const, value: Buffer.from(c.part.value) } } : c,
    );
    const got = assemble(delivered);
    expect(Buffer.compare(got.buffer, set.buffer)).toBe(0);
    expect(got.entries).toEqual(set.entries);
    expect(got.version).toBe(9);
    expect(got.crc32c).toBe(set.crc32c);
    expect(got.buffer.byteOffset % 4).toBe(0);
    expect(tensorView(got, 'c/bias')).toEqual(tensorView(set, 'c/bias'));
  });

  it('sends data chunks as views of the set, not copies', () => {
    const { data } = messages(set, 40);
    expect(data.map((d) => d.length)).toEqual([40, 40, 24]);
    for (const d of data) expect(d.buffer).toBe(set.buffer.buffer);
    expect(() => [...chunkTensorSet(set, 0)]).toThrow(ChunkSizeError);
  });

  it('converts manifests to the generated proto message and back', () => {
    const proto = toProtoManifest(manifestOf(set));
    expect(proto).toMatchObject({ version: 9, totalBytes: TOTAL, crc32c: set.crc32c });
    expect(proto.tensors.map((t) => t.name)).toEqual(['a/kernel', 'b/moving_mean', 'c/bias']);
    expect(fromProtoManifest(proto)).toEqual(manifestOf(set));
    expect(() => fromProtoManifest({ ...proto, tensors: [{ ...proto.tensors[0]!, dtype: 'int8' }] })).toThrow(TensorDtypeError);
  });

  it('fills a given aligned buffer of the right size in place', () => {
    const into = new Uint8Array(TOTAL);
    const got = assemble([...chunkTensorSet(set, 10)], { into });
    expect(got.buffer).toBe(into);
    expect(Buffer.compare(into, set.buffer)).toBe(0);
  });

  it('refuses a chunk with one flipped byte (CRC-32C)', () => {
    const { manifest, data } = messages(set, 32);
    const bad = Buffer.from(data[1]!);
    bad[5]! ^= 0x01;
    const assembler = new TensorSetAssembler({ expected: model });
    assembler.onManifest(manifest);
    for (const d of [data[0]!, bad, ...data.slice(2)]) assembler.onData(d);
    expect(() => assembler.finish()).toThrow(TensorChecksumError);
    expect(assembler.state).toBe('failed');
  });

  it('reports a corrupted byte as a checksum fault even when it makes a NaN; a real NaN as NaN', () => {
    const nanBytes = set.buffer.slice();
    new Float32Array(nanBytes.buffer)[20] = Number.NaN;
    const { manifest, data } = messages(set, 16);
    const corrupt = new TensorSetAssembler({ expected: model });
    corrupt.onManifest(manifest);
    for (let i = 0; i < data.length; i++) corrupt.onData(Buffer.from(nanBytes.subarray(i * 16, i * 16 + data[i]!.length)));
    expect(() => corrupt.finish()).toThrow(TensorChecksumError);
    // A sender that packs a NaN: the CRC matches, the scan refuses it.
    const withNan = packTensorSet(
      specs.map((s) => ({
        ...s,
        values: s.name === 'c/bias' ? Float32Array.of(0, 1, 2, Number.NaN, 4, 5, 6) : new Float32Array(s.shape.reduce((a, b) => a * b, 1)),
      })),
      1,
    );
    const err = (() => {
      try {
        assemble([...chunkTensorSet(withNan, 7)]);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(NonFiniteTensorError);
    expect(err).toMatchObject({ tensor: 'c/bias', index: 3 });
  });

  it('refuses too few bytes at the end, and a chunk overflowing total_bytes', () => {
    const { manifest, data } = messages(set, 50);
    const short = new TensorSetAssembler();
    short.onManifest(manifest);
    short.onData(data[0]!);
    expect(() => short.finish()).toThrow(TensorSetLengthError);
    const long = new TensorSetAssembler();
    long.onManifest(manifest);
    for (const d of data) long.onData(d);
    const err = (() => {
      try {
        long.onData(Buffer.alloc(1));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(TensorSetOverflowError);
    expect(err).toMatchObject({ expected: TOTAL, got: TOTAL + 1 });
  });

  it('refuses data before the manifest, a second manifest, an empty message, and a stream without a manifest', () => {
    const { manifest, data } = messages(set, 50);
    expect(() => new TensorSetAssembler().onData(data[0]!)).toThrow(/data before the manifest/);
    const twice = new TensorSetAssembler();
    twice.onManifest(manifest);
    expect(() => twice.onManifest(manifest)).toThrow(TensorStreamProtocolError);
    expect(() => new TensorSetAssembler().push({ part: undefined })).toThrow(TensorStreamProtocolError);
    expect(() => new TensorSetAssembler().finish()).toThrow(/without a manifest/);
  });

  it('refuses an oversized manifest before allocating, and a manifest unlike the model before its data', () => {
    const { manifest } = messages(set, 50);
    const err = (() => {
      try {
        new TensorSetAssembler({ maxTotalBytes: 100 }).onManifest(manifest);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(OversizedTensorSetError);
    expect(err).toMatchObject({ bytes: TOTAL, limitBytes: 100 });
    expect(() => new TensorSetAssembler({ maxTotalBytes: 100 }).onManifest({ ...manifest, totalBytes: 2 ** 50 })).toThrow(
      OversizedTensorSetError,
    );
    expect(() => new TensorSetAssembler({ expected: model }).onManifest({ ...manifest, tensors: manifest.tensors.slice(1) })).toThrow(
      MissingTensorError,
    );
    expect(() => new TensorSetAssembler().onManifest({ ...manifest, totalBytes: TOTAL + 4 })).toThrow(TensorSetLengthError);
  });
});
