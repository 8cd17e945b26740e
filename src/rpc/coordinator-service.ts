import { makeGenericClientConstructor, type ChannelCredentials, type ClientOptions } from '@grpc/grpc-js';
import {
  ContributionChunk,
  CoordinatorService,
  TensorChunk,
  type CoordinatorClient as GeneratedClient,
} from '../../proto/gen/fleet/v1/coordinator.js';

/**
 * The generated service with a faster codec for the messages that carry
 * tensor bytes. ts-proto's encode copies a 1 MiB chunk two or three times and
 * its decode once more; a data chunk is simply field 2 (bytes), so it is
 * written with one copy and read as a view. Other messages, and headers,
 * go through the generated code. The bytes on the wire are the same.
 */
const DATA_TAG = 0x12; // field 2, wire type 2 (length-delimited): `bytes data = 2` in both messages

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Writes the data message of `data` at `out[at]`; returns its end. */
function writeDataMessage(out: Uint8Array, at: number, data: Uint8Array): number {
  out[at] = DATA_TAG;
  let value = data.length;
  let i = at + 1;
  while (value >= 0x80) {
    out[i++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[i++] = value;
  out.set(data, i);
  return i + data.length;
}

function encodeData(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + varintBytes(data.length) + data.length);
  writeDataMessage(out, 0, data);
  return out;
}

/** The wire form of a message encoded ahead of time: the serializer hands it to grpc-js as it is. */
const WIRE = Symbol('fleet.wire');
type Encoded = { [WIRE]?: Buffer };

/**
 * A tensor set's data messages encoded once into one buffer: the
 * coordinator's FetchParameters messages of a version, for every worker that
 * fetches it; a worker's Contribute messages, into a buffer kept across
 * rounds. Without it each message is copied into a fresh buffer (on this
 * machine fresh pages cost more than the copy). The data field is the same
 * (field 2) in TensorChunk and ContributionChunk.
 * `reuse` (an earlier encoding nobody is sending any more) is overwritten when
 * its size fits, so the coordinator keeps one encoding's memory, not one per round.
 */
export function encodeTensorChunks(chunks: Iterable<TensorChunk>, reuse?: Buffer): { messages: TensorChunk[]; wire: Buffer } {
  const list = [...chunks];
  const sizes = list.map((c) => (c.part?.$case === 'data' ? 1 + varintBytes(c.part.value.length) + c.part.value.length : 0));
  const total = sizes.reduce((a, b) => a + b, 0);
  const wire = reuse && reuse.length === total ? reuse : Buffer.allocUnsafe(total);
  let at = 0;
  const messages = list.map((c): TensorChunk => {
    if (c.part?.$case !== 'data') return c;
    const length = c.part.value.length;
    const end = writeDataMessage(wire, at, c.part.value);
    // The data as a view of the encoding too: the caller's buffer may change after this.
    const message: TensorChunk & Encoded = {
      part: { $case: 'data', value: wire.subarray(end - length, end) },
      [WIRE]: wire.subarray(at, end),
    };
    at = end;
    return message;
  });
  return { messages, wire };
}

/** The data of a message that is exactly one data field, as a view; null for anything else. */
function decodeData(buffer: Buffer): Buffer | null {
  if (buffer.length < 2 || buffer[0] !== DATA_TAG) return null;
  let length = 0;
  let shift = 1;
  let i = 1;
  for (; i < buffer.length && i < 6; i++) {
    const b = buffer[i]!;
    length += (b & 0x7f) * shift;
    shift *= 128;
    if ((b & 0x80) === 0) {
      i++;
      break;
    }
  }
  return i + length === buffer.length ? buffer.subarray(i) : null;
}

export const FleetCoordinatorService = {
  ...CoordinatorService,
  contribute: {
    ...CoordinatorService.contribute,
    requestSerialize: (value: ContributionChunk & Encoded): Buffer =>
      value[WIRE] ?? (value.part?.$case === 'data' ? encodeData(value.part.value) : Buffer.from(ContributionChunk.encode(value).finish())),
    requestDeserialize: (buffer: Buffer): ContributionChunk => {
      const data = decodeData(buffer);
      return data ? { part: { $case: 'data', value: data } } : ContributionChunk.decode(buffer);
    },
  },
  fetchParameters: {
    ...CoordinatorService.fetchParameters,
    responseSerialize: (value: TensorChunk & Encoded): Buffer =>
      value[WIRE] ?? (value.part?.$case === 'data' ? encodeData(value.part.value) : Buffer.from(TensorChunk.encode(value).finish())),
    responseDeserialize: (buffer: Buffer): TensorChunk => {
      const data = decodeData(buffer);
      return data ? { part: { $case: 'data', value: data } } : TensorChunk.decode(buffer);
    },
  },
} as const;

export const FleetCoordinatorClient = makeGenericClientConstructor(FleetCoordinatorService, 'fleet.v1.Coordinator') as unknown as {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): GeneratedClient;
};
