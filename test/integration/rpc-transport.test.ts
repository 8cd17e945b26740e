import {
  Metadata,
  credentials,
  status as Status,
  type ServerReadableStream,
  type ServerWritableStream,
  type ServiceError,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TensorChecksumError,
  chunkTensorSet,
  packTensorSet,
  planTensorSet,
  type TensorEntry,
  type TensorSet,
} from '../../src/exchange/index.js';
import {
  CoordinatorClient,
  CoordinatorService,
  ContributionKind,
  type ContributeResponse,
  type ContributionChunk,
  type ContributionHeader,
  type FetchParametersRequest,
  type TensorChunk,
} from '../../proto/gen/fleet/v1/coordinator.js';
import {
  CHANNEL_OPTIONS,
  ERROR_CLASS_KEY,
  FleetCoordinatorClient,
  bindGrpcServer,
  createGrpcServer,
  receiveContribution,
  receiveTensorSet,
  sendContribution,
  sendTensorSet,
  shutdownGrpcServer,
  toServiceError,
} from '../../src/rpc/index.js';
import type { EncodingBuffer } from '../../src/rpc/tensor-stream.js';

/**
 * A real grpc-js server on 127.0.0.1:0 serving the GENERATED Coordinator
 * service definition (ts-proto's codec, not the faster one of
 * rpc/coordinator-service.ts) with FetchParameters and Contribute; the
 * other methods answer UNIMPLEMENTED. Every call has a deadline.
 */

// 12 M floats (11,994,344: 48 MB) in a few ResNet-like tensors, one of them not trainable.
const SPECS = [
  { name: 'block1/conv/kernel', shape: [3, 3, 256, 512], trainable: true }, // 1,179,648
  { name: 'block2/conv/kernel', shape: [3, 3, 512, 512], trainable: true }, // 2,359,296
  { name: 'block3/conv/kernel', shape: [3, 3, 512, 512, 3], trainable: true }, // 7,077,888
  { name: 'block3/bn/moving_mean', shape: [512], trainable: false },
  { name: 'dense/kernel', shape: [1376, 1000], trainable: true }, // 1,376,000
  { name: 'dense/bias', shape: [1000], trainable: true },
];
const MODEL: readonly TensorEntry[] = planTensorSet(SPECS);
const CORRUPT_VERSION = 666;
const deadline = (ms = 10_000) => new Date(Date.now() + ms);

function makeSet(version: number, seed: number): TensorSet {
  return packTensorSet(
    SPECS.map((s, k) => {
      const values = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761 + seed * 97 + k) % 2001) / 1000 - 1;
      return { ...s, values };
    }),
    version,
  );
}

/** A set's data bytes: its encoding holds them plus a few header bytes per message. */
const grads0Bytes = () => planTensorSet(SPECS).reduce((n, e) => n + e.byteLength, 0);

const unimplemented = (_call: unknown, cb: sendUnaryData<never>) =>
  cb({ code: Status.UNIMPLEMENTED, details: 'not in this test server' }, null);

describe('tensor sets over real gRPC (loopback)', () => {
  const params = makeSet(3, 1);
  const contributed: { header: ContributionHeader; set: TensorSet }[] = [];
  const server = createGrpcServer();
  let client: CoordinatorClient;
  let port = 0;

  beforeAll(async () => {
    const impl: UntypedServiceImplementation = {
      register: unimplemented,
      nextRound: unimplemented,
      heartbeat: unimplemented,
      leave: unimplemented,

      fetchParameters(call: ServerWritableStream<FetchParametersRequest, TensorChunk>) {
        if (call.request.version !== CORRUPT_VERSION) {
          sendTensorSet(call, params).catch((err: unknown) => call.destroy(err as Error));
          return;
        }
        // A sender whose third chunk got a bit flipped on the way.
        void (async () => {
          let i = 0;
          for (const message of chunkTensorSet(params)) {
            let out = message;
            if (message.part?.$case === 'data' && i++ === 2) {
              const copy = Buffer.from(message.part.value);
              copy[1234]! ^= 0x04;
              out = { part: { $case: 'data', value: copy } };
            }
            if (!call.write(out)) await new Promise((resolve) => call.once('drain', resolve));
          }
          call.end();
        })();
      },

      contribute(call: ServerReadableStream<ContributionChunk, ContributeResponse>, cb: sendUnaryData<ContributeResponse>) {
        receiveContribution(call, { expected: MODEL, maxTotalBytes: 64 << 20 }).then(
          (c) => {
            contributed.push(c);
            cb(null, { round: c.header.round, nextVersion: c.header.version + 1 });
          },
          (err: unknown) => cb(toServiceError(err), null),
        );
      },
    };
    server.addService(CoordinatorService, impl);
    port = await bindGrpcServer(server, '127.0.0.1', 0);
    expect(port).toBeGreaterThan(0);
    client = new CoordinatorClient(`127.0.0.1:${port}`, credentials.createInsecure(), CHANNEL_OPTIONS);
  });

  afterAll(async () => {
    client?.close();
    await shutdownGrpcServer(server, 1000);
  });

  /** A Contribute call; resolves with the response or the ServiceError, and the abort signal for the sender. */
  function contribute(): {
    call: ReturnType<CoordinatorClient['contribute']>;
    result: Promise<ContributeResponse | ServiceError>;
    signal: AbortSignal;
  } {
    const abort = new AbortController();
    let call!: ReturnType<CoordinatorClient['contribute']>;
    const result = new Promise<ContributeResponse | ServiceError>((resolve) => {
      call = client.contribute(new Metadata(), { deadline: deadline() }, (err, res) => {
        if (err) abort.abort(err);
        resolve(err ?? res!);
      });
    });
    return { call, result, signal: abort.signal };
  }

  const header = (over: Partial<ContributionHeader> = {}): Omit<ContributionHeader, 'manifest'> => ({
    workerId: 'w1',
    round: 4,
    version: 3,
    sampleCount: 64,
    kind: ContributionKind.CONTRIBUTION_KIND_GRADIENTS,
    lossSum: 1.5,
    correct: 30,
    trainMs: 250,
    ...over,
  });

  it('FetchParameters streams a 12 M-float set that arrives bit-identical', async () => {
    expect(params.buffer.byteLength).toBe(11_994_344 * 4);
    const got = await receiveTensorSet(client.fetchParameters({ workerId: 'w1', version: 3, tensors: [] }, { deadline: deadline() }), {
      expected: MODEL,
      maxTotalBytes: 64 << 20,
    });
    expect(got.version).toBe(3);
    expect(got.crc32c).toBe(params.crc32c);
    expect(got.entries).toEqual(params.entries);
    expect(Buffer.compare(got.buffer, params.buffer)).toBe(0);
  });

  it('a downloaded set with a flipped bit is refused by the client (CRC-32C) and the call cancelled', async () => {
    const stream = client.fetchParameters({ workerId: 'w1', version: CORRUPT_VERSION, tensors: [] }, { deadline: deadline() });
    await expect(receiveTensorSet(stream, { expected: MODEL, maxTotalBytes: 64 << 20 })).rejects.toThrow(TensorChecksumError);
  });

  it('Contribute receives a 12 M-float set bit-identical, with its header', async () => {
    const grads = makeSet(3, 2);
    const { call, result, signal } = contribute();
    await sendContribution(call, header(), grads, { signal });
    const res = await result;
    expect(res).toEqual({ round: 4, nextVersion: 4 });
    const got = contributed.at(-1)!;
    expect(got.header).toMatchObject({ workerId: 'w1', round: 4, version: 3, sampleCount: 64, lossSum: 1.5, correct: 30 });
    expect(Buffer.compare(got.set.buffer, grads.buffer)).toBe(0);
  });

  it("contributions encoded into one kept buffer (fleet's client codec) arrive bit-identical, round after round", async () => {
    // fleet's codec hands grpc-js the pre-encoded messages as they are: a client of it, same server.
    const fleetClient = new FleetCoordinatorClient(`127.0.0.1:${port}`, credentials.createInsecure(), CHANNEL_OPTIONS);
    const encoding: EncodingBuffer = {};
    let kept: Buffer | undefined;
    try {
      for (const seed of [4, 5]) {
        const grads = makeSet(3, seed);
        const result = new Promise<ContributeResponse>((resolve, reject) => {
          const call = fleetClient.contribute(new Metadata(), { deadline: deadline() }, (err, res) => (err ? reject(err) : resolve(res!)));
          sendContribution(call, header({ round: seed }), grads, { encoding }).catch(reject);
        });
        expect(await result).toEqual({ round: seed, nextVersion: 4 });
        expect(Buffer.compare(contributed.at(-1)!.set.buffer, grads.buffer)).toBe(0);
        // The second round overwrote the first's encoding in place: no new 48 MB buffer.
        if (kept) expect(encoding.buffer).toBe(kept);
        kept = encoding.buffer;
      }
      expect(kept!.length).toBeGreaterThan(grads0Bytes());
    } finally {
      fleetClient.close();
    }
  });

  it('a contribution with a corrupted chunk is refused with INVALID_ARGUMENT', async () => {
    const grads = makeSet(3, 3);
    const { call, result } = contribute();
    let i = 0;
    for (const message of chunkTensorSet(grads)) {
      const part = message.part!;
      let out: ContributionChunk;
      if (part.$case === 'manifest') out = { part: { $case: 'header', value: { ...header(), manifest: part.value } } };
      else if (i++ === 5) {
        const copy = Buffer.from(part.value);
        copy[77]! ^= 0x80;
        out = { part: { $case: 'data', value: copy } };
      } else out = { part };
      if (!call.write(out)) await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
    const err = (await result) as ServiceError;
    expect(Status[err.code]).toBe('INVALID_ARGUMENT');
    expect(err.details).toMatch(/CRC-32C/);
    expect(err.metadata.get(ERROR_CLASS_KEY)).toEqual(['TensorChecksumError']);
  });

  it('a contribution of the wrong shape is refused with INVALID_ARGUMENT at its header; the sender stops instead of hanging', async () => {
    const wrong = packTensorSet(
      SPECS.map((s) => ({
        ...s,
        shape: s.name === 'dense/bias' ? [1001] : s.shape,
        values: new Float32Array(s.name === 'dense/bias' ? 1001 : s.shape.reduce((a, b) => a * b, 1)),
      })),
      3,
    );
    const { call, result, signal } = contribute();
    const sent = sendContribution(call, header(), wrong, { signal }).then(
      () => 'sent',
      (err: Error) => err.name,
    );
    const err = (await result) as ServiceError;
    expect(Status[err.code]).toBe('INVALID_ARGUMENT');
    expect(err.details).toMatch(/shape \[1001\], expected \[1000\] \(tensor dense\/bias\)/);
    // Either every chunk was already buffered, or the send saw the refusal and stopped.
    expect(['sent', 'TensorStreamClosedError']).toContain(await sent);
  });

  it("a manifest above the receiver's limit is refused with RESOURCE_EXHAUSTED before any data", async () => {
    const { call, result } = contribute();
    const manifest = { version: 3, tensors: [], totalBytes: 2 ** 40, crc32c: 0 };
    call.write({ part: { $case: 'header', value: { ...header(), manifest } } });
    call.end();
    const err = (await result) as ServiceError;
    expect(Status[err.code]).toBe('RESOURCE_EXHAUSTED');
  });

  it('methods the test server does not implement answer UNIMPLEMENTED', async () => {
    const err = await new Promise<ServiceError | null>((resolve) => {
      client.register({ runId: '', workerName: 'w', backend: 'cpu' }, new Metadata(), { deadline: deadline(2000) }, (e) => resolve(e));
    });
    expect(Status[err!.code]).toBe('UNIMPLEMENTED');
  });
});
