import type { ServiceError } from '@grpc/grpc-js';
import { entriesOf } from '../../../src/exchange/tensor-wire.js';
import { tensorSetValues, wrapTensorSet } from '../../../src/exchange/index.js';
import { receiveTensorSet, sendContribution, type EncodingBuffer } from '../../../src/rpc/tensor-stream.js';
import { CHANNEL_OPTIONS } from '../../../src/rpc/channel-options.js';
import { ContributionKind } from '../../../proto/gen/fleet/v1/coordinator.js';
import { FleetCoordinatorClient } from '../../../src/rpc/coordinator-service.js';
import { insecureChannel, type ClientChannel } from '../../../src/rpc/security/index.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import type { CoordinatorClient, WorkAssignment } from '../worker-run.js';
import { VectorMemory } from '../../../src/compute/vector-math/index.js';

export interface ClientOptions {
  /** Deadline of short calls (register, heartbeat, leave). */
  callTimeoutMs: number;
  /** Deadline of a wait for the next round: longer than a round can take. */
  roundWaitTimeoutMs: number;
  /** Deadline of a tensor transfer. */
  transferTimeoutMs: number;
  /** Credentials and token (clientChannelFrom); default plaintext without a token. */
  channel?: ClientChannel;
}

const deadline = (ms: number) => new Date(Date.now() + ms);

/** The worker's side of the coordinator protocol over @grpc/grpc-js; every call has a deadline. */
export function createCoordinatorClient(
  address: string,
  layoutOf: () => readonly WeightSlice[],
  o: ClientOptions,
): CoordinatorClient & { close(): void } {
  const channel = o.channel ?? insecureChannel();
  const client = new FleetCoordinatorClient(address, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options });
  // Parameters arrive into one buffer reused every round (the caller copies them
  // into the model before the next fetch): fresh pages for 45 MB cost more than the transfer.
  let receiveBuffer: Uint8Array = new Uint8Array(0);
  // Contributions are encoded into one buffer kept across rounds (a call ends before the next starts).
  const uploadEncoding: EncodingBuffer = {};

  const unary = <Req, Res>(
    method: (req: Req, meta: never, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown,
    req: Req,
    timeoutMs: number,
  ) =>
    new Promise<Res>((resolve, reject) => {
      (method as unknown as (r: Req, o: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => void).call(
        client,
        req,
        { deadline: deadline(timeoutMs) },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });

  return {
    register(request) {
      return unary(client.register as never, request, o.callTimeoutMs);
    },

    async nextRound(workerId, fromRound): Promise<WorkAssignment | null> {
      const a = await unary<
        { workerId: string; fromRound: number },
        {
          round: number;
          epoch: number;
          version: number;
          globalStep: number;
          batches: { indices: number[]; lr: number }[];
          finished: boolean;
          memberIndex: number;
        }
      >(client.nextRound as never, { workerId, fromRound }, o.roundWaitTimeoutMs);
      if (a.finished) return null;
      return {
        round: a.round,
        epoch: a.epoch,
        version: a.version,
        globalStep: a.globalStep,
        memberIndex: a.memberIndex,
        batches: a.batches,
      };
    },

    async fetchParameters(workerId, version, only) {
      const layout = only ?? layoutOf();
      const tensors = only ? only.map((s) => s.name) : [];
      const stream = client.fetchParameters({ workerId, version, tensors }, { deadline: deadline(o.transferTimeoutMs) });
      const bytes = layout.reduce((n, s) => n + s.length * 4, 0);
      if (only) {
        // A frozen phase's subset (small): a buffer of its own, the model-sized one stays for full fetches.
        const set = await receiveTensorSet(stream, { maxTotalBytes: bytes, expected: entriesOf(layout), into: new Uint8Array(bytes) });
        return { version: set.version, values: tensorSetValues(set) };
      }
      if (receiveBuffer.byteLength !== bytes) {
        // In a vector memory of its own, the finite scan of each chunk runs in place (vector-math).
        const floats = VectorMemory.create(bytes / 4).zeros(bytes / 4);
        receiveBuffer = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
      }
      const set = await receiveTensorSet(stream, { maxTotalBytes: bytes, expected: entriesOf(layout), into: receiveBuffer });
      return { version: set.version, values: tensorSetValues(set) };
    },

    contribute(c) {
      return new Promise((resolve, reject) => {
        const call = client.contribute({ deadline: deadline(o.transferTimeoutMs) }, (err, res) =>
          err ? reject(err) : resolve({ round: res.round, nextVersion: res.nextVersion }),
        );
        const header = {
          workerId: c.workerId,
          round: c.round,
          version: c.version,
          sampleCount: c.sampleCount,
          lossSum: c.lossSum,
          correct: c.correct,
          trainMs: c.trainMs,
          kind: c.kind === 'gradients' ? ContributionKind.CONTRIBUTION_KIND_GRADIENTS : ContributionKind.CONTRIBUTION_KIND_PARAMETERS,
        };
        // A refusal ends the call early: the callback above reports it; the sender just stops.
        sendContribution(call, header, wrapTensorSet(entriesOf(c.layout), c.values, c.version), { encoding: uploadEncoding }).catch(
          () => {},
        );
      });
    },

    async heartbeat(workerId, round) {
      const res = await unary<{ workerId: string; round: number; stepsDone: number }, { known: boolean }>(
        client.heartbeat as never,
        { workerId, round, stepsDone: 0 },
        o.callTimeoutMs,
      );
      return res.known;
    },

    async leave(workerId, reason) {
      await unary(client.leave as never, { workerId, reason }, o.callTimeoutMs);
    },

    close() {
      client.close();
    },
  };
}
