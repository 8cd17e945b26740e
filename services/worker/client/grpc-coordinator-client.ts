import type { ServiceError } from '@grpc/grpc-js';
import { entriesOf } from '../../../src/exchange/tensor-wire.js';
import { contributionWire, encodeTensorSet, tensorSetValues, wireDtypeOf } from '../../../src/exchange/index.js';
import { runConfigFields, type Compress } from '../../../src/runtime/config/run-config.js';
import { receiveTensorSet, sendContribution, type EncodingBuffer } from '../../../src/rpc/tensor-stream.js';
import { CHANNEL_OPTIONS } from '../../../src/rpc/channel-options.js';
import { ContributionKind } from '../../../proto/gen/fleet/v1/coordinator.js';
import { FleetCoordinatorClient } from '../../../src/rpc/coordinator-service.js';
import { insecureChannel, type ClientChannel } from '../../../src/rpc/security/index.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import type { CoordinatorClient, WorkAssignment } from '../worker-run.js';
import { VectorMemory } from '../../../src/compute/vector-math/index.js';
import { ShardMapError, packShard, shardSliceOf, unpackShard, type ShardSlice } from '../../../src/exchange/shard-assignment.js';
import { classify } from '../../../src/rpc/classify.js';
import { CoordinatorRefusal } from '../../../src/rpc/coordinator-refusals.js';

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

type Contribution = Parameters<CoordinatorClient['contribute']>[0];

/** What registration tells the client about the wire: --compress and the seed its stochastic rounding is keyed by. */
const wireKeys = runConfigFields.pick({ compress: true, seed: true });

/**
 * The worker's side of the coordinator protocol over @grpc/grpc-js; every
 * call has a deadline. Tensor sets travel in the run's format (--compress),
 * which the client learns from the run config each registration returns:
 * a worker needs no flag for it.
 */
export function createCoordinatorClient(
  address: string,
  layoutOf: () => readonly WeightSlice[],
  o: ClientOptions,
): CoordinatorClient & { close(): void; useWire(w: { compress: Compress; seed: number }): void } {
  const channel = o.channel ?? insecureChannel();
  const client = new FleetCoordinatorClient(address, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options });
  // Parameters arrive into one buffer reused every round (the caller copies them
  // into the model before the next fetch): fresh pages for 45 MB cost more than the transfer.
  let receiveBuffer: Uint8Array = new Uint8Array(0);
  // Contributions are encoded into one buffer kept across rounds (a call ends before the next starts).
  const uploadEncoding: EncodingBuffer = {};
  // --compress: contributions are rounded into this buffer first (kept too: the messages copy it).
  let uploadHalves: Uint16Array | undefined;
  let wire: { compress: Compress; seed: number } = { compress: 'none', seed: 0 };
  let shardMap: { address: string; tensors: string[] }[] = [];
  let sharded = false;
  let resolved: ReturnType<typeof shards> | null = null;
  /** The sharded fetch's model-sized buffer, reused (the caller copies it into the model before the next fetch). */
  let shardFull = new Float32Array(0);

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
    async register(request) {
      const res = await unary<
        typeof request,
        Awaited<ReturnType<CoordinatorClient['register']>> & { shards: { address: string; tensors: string[] }[] }
      >(client.register as never, request, o.callTimeoutMs);
      wire = wireKeys.parse(JSON.parse(res.configJson));
      closeShards();
      shardMap = res.shards.length > 1 ? res.shards : [];
      sharded = shardMap.length > 1;
      return res;
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
      if (sharded && !only) return fetchSharded(workerId, version);
      return fetchDirect(workerId, version, only);
    },

    contribute(c) {
      if (sharded) return contributeSharded(c);
      return contributeDirect(c);
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

    /** An aggregator's client learns the wire format from the coordinator's registration, not its own. */
    useWire(w) {
      wire = w;
    },

    close() {
      closeShards();
      client.close();
    },
  };

  async function fetchDirect(
    workerId: string,
    version: number,
    only?: readonly WeightSlice[],
  ): Promise<{ version: number; values: Float32Array; wireBytes: number }> {
    {
      const layout = only ?? layoutOf();
      const tensors = only ? only.map((s) => s.name) : [];
      // Asked for in the run's dtype, and only that one is accepted.
      const dtype = wireDtypeOf(wire.compress);
      const request = { workerId, version, tensors, ...(dtype === 'float32' ? {} : { dtype }) };
      const stream = client.fetchParameters(request, { deadline: deadline(o.transferTimeoutMs) });
      const expected = entriesOf(layout, dtype);
      const wireBytes = expected.reduce((n, e) => n + e.byteLength, 0);
      const bytes = layout.reduce((n, s) => n + s.length * 4, 0);
      if (only) {
        // A frozen phase's subset (small): a buffer of its own, the model-sized one stays for full fetches.
        const set = await receiveTensorSet(stream, { maxTotalBytes: wireBytes, expected, into: new Uint8Array(bytes) });
        return { version: set.version, values: tensorSetValues(set), wireBytes: set.wireBytes };
      }
      if (receiveBuffer.byteLength !== bytes) {
        // In a vector memory of its own, the finite scan of each chunk runs in place (vector-math).
        const floats = VectorMemory.create(bytes / 4).zeros(bytes / 4);
        receiveBuffer = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
      }
      const set = await receiveTensorSet(stream, { maxTotalBytes: wireBytes, expected, into: receiveBuffer });
      return { version: set.version, values: tensorSetValues(set), wireBytes: set.wireBytes };
    }
  }

  function contributeDirect(c: Contribution): Promise<{ round: number; nextVersion: number; wireBytes: number }> {
    return new Promise((resolve, reject) => {
      // Encoded before the call starts: a value the format cannot hold (TensorOverflowError) is refused here.
      const key = { seed: wire.seed, round: c.round, sender: c.memberIndex ?? 0 };
      const set = encodeTensorSet(entriesOf(c.layout), c.values, c.version, contributionWire(wire.compress, c.kind, key), uploadHalves);
      if (set.entries[0]?.dtype !== 'float32')
        uploadHalves = new Uint16Array(set.buffer.buffer, set.buffer.byteOffset, set.buffer.byteLength / 2);
      const call = client.contribute({ deadline: deadline(o.transferTimeoutMs) }, (err, res) =>
        err ? reject(err) : resolve({ round: res.round, nextVersion: res.nextVersion, wireBytes: set.buffer.byteLength }),
      );
      const header = {
        workerId: c.workerId,
        round: c.round,
        version: c.version,
        sampleCount: c.sampleCount,
        lossSum: c.lossSum,
        correct: c.correct,
        trainMs: c.trainMs,
        downloadMs: c.downloadMs,
        previousUploadMs: c.previousUpload?.ms,
        previousUploadRound: c.previousUpload?.round,
        kind: c.kind === 'gradients' ? ContributionKind.CONTRIBUTION_KIND_GRADIENTS : ContributionKind.CONTRIBUTION_KIND_PARAMETERS,
      };
      // A refusal ends the call early: the callback above reports it; the sender just stops.
      sendContribution(call, header, set, { encoding: uploadEncoding }).catch(() => {});
    });
  }

  /**
   * --shards K > 1: the shard map the coordinator gave at registration, with
   * a client per aggregator (shard 0 is the coordinator). Resolved at the
   * first transfer: the model's layout is known only after registration.
   */
  function shards(): {
    layout: readonly WeightSlice[];
    slices: ShardSlice[];
    peers: ReturnType<typeof createCoordinatorClient>[];
    packed: Float32Array[];
  } {
    if (resolved) return resolved;
    const layout = layoutOf();
    const slices = shardMap.map((s, k) => shardSliceOf(layout, k, s.tensors));
    const covered = slices.reduce((n, s) => n + s.floats, 0);
    const total = layout.reduce((n, s) => n + s.length, 0);
    if (covered !== total) throw new ShardMapError(`the coordinator's shard map covers ${covered} of the model's ${total} values`);
    const peers = shardMap.slice(1).map((s, k) => {
      const peer = createCoordinatorClient(s.address, () => slices[k + 1]!.slices, o);
      peer.useWire(wire);
      return peer;
    });
    resolved = { layout, slices, peers, packed: slices.map((s) => new Float32Array(s.floats)) };
    return resolved;
  }

  function closeShards(): void {
    for (const p of resolved?.peers ?? []) p.close();
    resolved = null;
  }

  /** Each shard's tensors from its aggregator, in parallel, into one model-sized buffer. */
  async function fetchSharded(workerId: string, version: number): Promise<{ version: number; values: Float32Array; wireBytes: number }> {
    const s = shards();
    const parts = await Promise.all([
      fetchDirect(workerId, version, s.slices[0]!.slices),
      ...s.peers.map((p) => p.fetchParameters(workerId, version)),
    ]);
    if (shardFull.length !== s.packed.reduce((n, p) => n + p.length, 0))
      shardFull = new Float32Array(s.packed.reduce((n, p) => n + p.length, 0));
    let wireBytes = 0;
    for (const [k, part] of parts.entries()) {
      if (part.version !== version) throw new ShardMapError(`shard ${k} sent version ${part.version}, asked for ${version}`);
      unpackShard(s.layout, s.slices[k]!, part.values, shardFull);
      wireBytes += part.wireBytes;
    }
    return { version, values: shardFull, wireBytes };
  }

  /**
   * Each shard's tensors to its aggregator, all at once (each link carries
   * its slice while the others carry theirs). The coordinator counts the
   * contribution when its slice 0 arrives; the round's close then waits for
   * every aggregator to hold its part. A part an earlier attempt delivered is
   * refused as already there, which is what a retry wants; any other
   * failure of a part fails the call (retried as a whole when unavailable).
   */
  async function contributeSharded(c: Contribution): Promise<{ round: number; nextVersion: number; wireBytes: number }> {
    const s = shards();
    if (c.layout.length !== s.layout.length) throw new ShardMapError('a subset of the tensors (a frozen phase) cannot be sharded');
    const parts = s.slices.map((slice, k) => packShard(s.layout, slice, c.values, s.packed[k]!));
    const sends = [
      contributeDirect({ ...c, values: parts[0]!, layout: s.slices[0]!.slices }),
      ...s.peers.map((p, k) => p.contribute({ ...c, values: parts[k + 1]!, layout: s.slices[k + 1]!.slices })),
    ];
    const settled = await Promise.allSettled(sends);
    let wireBytes = 0;
    for (const r of settled) {
      if (r.status === 'fulfilled') wireBytes += r.value.wireBytes;
      else if (classify(r.reason)?.errorClass !== CoordinatorRefusal.AlreadyContributed) throw r.reason;
    }
    const own = settled[0]!;
    // The coordinator's part was delivered by an earlier attempt: say so as a single coordinator would.
    if (own.status === 'rejected' && settled.every((r) => r.status === 'rejected')) throw own.reason;
    return { round: c.round, nextVersion: c.version + 1, wireBytes };
  }
}
