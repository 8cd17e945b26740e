import { describe, expect, it } from 'vitest';
import { chunkTensorSet } from '../../../src/exchange/index.js';
import { FleetCoordinatorService, encodeTensorChunks } from '../../../src/rpc/coordinator-service.js';
import { smallTensorSet } from '../../fixtures/tensor-sets.js';
import { ContributionChunk, TensorChunk } from '../../../proto/gen/fleet/v1/coordinator.js';

describe('tensor chunk codec', () => {
  const { fetchParameters, contribute } = FleetCoordinatorService;

  it.each([0, 1, 127, 128, 300, 16_384, 1 << 20])(
    'writes the same bytes as the generated code for %i data bytes, and reads them back as a view',
    (n) => {
      const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 31) & 0xff));
      const fast = fetchParameters.responseSerialize({ part: { $case: 'data', value: data } });
      expect(fast.equals(Buffer.from(TensorChunk.encode({ part: { $case: 'data', value: data } }).finish()))).toBe(true);
      const back = fetchParameters.responseDeserialize(fast);
      expect(back.part?.$case).toBe('data');
      expect(Buffer.compare(back.part!.value as Buffer, data)).toBe(0);
      if (n > 0) expect((back.part!.value as Buffer).buffer).toBe(fast.buffer);
      const up = contribute.requestSerialize({ part: { $case: 'data', value: data } });
      expect(up.equals(Buffer.from(ContributionChunk.encode({ part: { $case: 'data', value: data } }).finish()))).toBe(true);
    },
  );

  it('leaves headers and manifests to the generated code', () => {
    const header = {
      part: {
        $case: 'header' as const,
        value: {
          workerId: 'w1',
          round: 3,
          version: 4,
          sampleCount: 64,
          kind: 1,
          lossSum: 1.5,
          correct: 9,
          trainMs: 12.5,
          manifest: undefined,
        },
      },
    };
    const bytes = contribute.requestSerialize(header);
    expect(contribute.requestDeserialize(bytes)).toEqual(ContributionChunk.decode(bytes));
    const manifest = { part: { $case: 'manifest' as const, value: { version: 2, tensors: [], totalBytes: 0, crc32c: 5 } } };
    expect(fetchParameters.responseDeserialize(fetchParameters.responseSerialize(manifest))).toEqual(manifest);
  });

  it('a set encoded ahead of time serializes to the same bytes per message, survives later changes of the source, and reuses a fitting buffer', () => {
    const set = smallTensorSet(7, (i, k) => i * 0.5 - k);
    const chunks = [...chunkTensorSet(set, 16)];
    const expected = chunks.map((c) => Buffer.from(TensorChunk.encode(c).finish()));
    const { messages, wire } = encodeTensorChunks(chunkTensorSet(set, 16));
    set.buffer.fill(0xff); // the master moves on while the encoding is still being sent
    expect(messages.map((m) => fetchParameters.responseSerialize(m))).toEqual(expected);
    expect(messages[0]).toEqual(chunks[0]); // the manifest, untouched
    const again = encodeTensorChunks(
      chunkTensorSet(
        smallTensorSet(8, () => 1),
        16,
      ),
      wire,
    );
    expect(again.wire).toBe(wire);
    expect(
      encodeTensorChunks(
        chunkTensorSet(
          smallTensorSet(8, () => 1),
          32,
        ),
        Buffer.alloc(3),
      ).wire.length,
    ).not.toBe(3);
  });
});
