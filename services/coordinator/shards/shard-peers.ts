import type { ServiceError } from '@grpc/grpc-js';
import { AggregatorClient, ClosePhase, type CloseRoundResponse } from '../../../proto/gen/fleet/v1/aggregator.js';
import { entriesOf } from '../../../src/exchange/tensor-wire.js';
import { FLOAT32_WIRE, encodeTensorSet, tensorSetValues } from '../../../src/exchange/index.js';
import { packShard, unpackShard, type ShardSlice } from '../../../src/exchange/shard-assignment.js';
import { receiveTensorSet, sendTensorSet } from '../../../src/rpc/tensor-stream.js';
import { CHANNEL_OPTIONS } from '../../../src/rpc/channel-options.js';
import type { ClientChannel } from '../../../src/rpc/security/index.js';
import type { Logger } from '../../../src/runtime/logger.js';
import type { TrainConfig } from '../../../src/runtime/config/train-config.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { FleetError } from '../../../src/runtime/errors.js';
import { PREPARE_WAIT_MS, withMomentum } from './shard-wire.js';
import type { Contributor } from './shard-aggregate.js';

/** An aggregator that could not be reached or refused the coordinator's call; names which and what. */
export class AggregatorCallError extends FleetError {
  constructor(
    readonly address: string,
    readonly shard: number,
    readonly call: string,
    cause: unknown,
  ) {
    super(`aggregator ${address} (shard ${shard}): ${call} failed: ${(cause as Error).message}`, { cause });
  }
}

interface Peer {
  shard: ShardSlice;
  address: string;
  client: AggregatorClient;
}

/** Deadline of the control calls (configure, close): the slice's values travel in load and gather, which get longer. */
const CONTROL_MS = 30_000;
const TRANSFER_MS = 600_000;

/**
 * The coordinator's side of its aggregators (shards 1..K-1): configures and
 * loads each with its slice, closes every round on all of them in two phases
 * (PREPARE: each holds exactly the contributions the coordinator counts;
 * then COMMIT or ABORT), gathers their slices for a checkpoint, and tells
 * them when the run is over.
 */
export class ShardPeers {
  private readonly peers: Peer[];

  constructor(
    private readonly layout: readonly WeightSlice[],
    shards: readonly ShardSlice[],
    addresses: readonly string[],
    channel: ClientChannel,
    private readonly log: Logger,
  ) {
    this.peers = addresses.map((address, i) => ({
      shard: shards[i + 1]!,
      address,
      client: new AggregatorClient(address, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options }),
    }));
  }

  get count(): number {
    return this.peers.length;
  }

  /** Configures every aggregator and loads its slice of `params` and `momentum` at `version` (a start or a resume). */
  async load(
    runId: string,
    config: TrainConfig,
    state: { params: Float32Array; momentum: Float32Array; version: number; optimizerSteps: number },
  ): Promise<void> {
    await this.each('configure', async (p) => {
      await this.unary<object>(p, 'configure', {
        runId,
        configJson: JSON.stringify(config),
        shard: p.shard.shard,
        shards: this.peers.length + 1,
        tensors: p.shard.tensors,
        optimizerSteps: state.optimizerSteps,
      });
      const floats = p.shard.floats;
      const both = new Float32Array(floats * 2);
      packShard(this.layout, p.shard, state.params, both.subarray(0, floats));
      packShard(this.layout, p.shard, state.momentum, both.subarray(floats));
      const set = encodeTensorSet(entriesOf(withMomentum(p.shard)), both, state.version, FLOAT32_WIRE);
      await new Promise<void>((resolve, reject) => {
        const call = p.client.load({ deadline: new Date(Date.now() + TRANSFER_MS) }, (err) => (err ? reject(err) : resolve()));
        sendTensorSet(call, set).catch(reject);
      });
    });
    this.log.info(
      { aggregators: this.peers.map((p) => ({ address: p.address, shard: p.shard.shard, floats: p.shard.floats })) },
      'aggregators loaded',
    );
  }

  /** PREPARE on every aggregator: null when all hold exactly `contributors`, else the first difference. */
  async prepare(round: number, version: number, contributors: readonly Contributor[]): Promise<string | null> {
    const answers = await this.each('prepare', (p) =>
      this.unary<CloseRoundResponse>(
        p,
        'closeRound',
        { round, version, phase: ClosePhase.CLOSE_PHASE_PREPARE, contributors, lr: 0 },
        CONTROL_MS + PREPARE_WAIT_MS,
      ).then((r) => (r.ready ? null : `aggregator ${p.address} (shard ${p.shard.shard}): ${r.mismatch}`)),
    );
    return answers.find((a) => a !== null) ?? null;
  }

  /** COMMIT on every aggregator: each applies the round's update; resolves when all have. */
  async commit(round: number, version: number, lr: number): Promise<void> {
    await this.each('commit', (p) =>
      this.unary<CloseRoundResponse>(p, 'closeRound', { round, version, phase: ClosePhase.CLOSE_PHASE_COMMIT, contributors: [], lr }).then(
        (r) => {
          if (r.version !== version + 1) throw new FleetError(`committed round ${round} to version ${r.version}, expected ${version + 1}`);
        },
      ),
    );
  }

  /** ABORT on every aggregator: the round's contributions are dropped. */
  async abort(round: number, version: number): Promise<void> {
    await this.each('abort', (p) =>
      this.unary(p, 'closeRound', { round, version, phase: ClosePhase.CLOSE_PHASE_ABORT, contributors: [], lr: 0 }),
    );
  }

  /** Every aggregator's current slice, into the model-sized `params` and `momentum`; checks they are at `version`. */
  async gather(params: Float32Array, momentum: Float32Array, version: number): Promise<void> {
    await this.each('gather', async (p) => {
      const floats = p.shard.floats;
      const stream = p.client.gather({}, { deadline: new Date(Date.now() + TRANSFER_MS) });
      const set = await receiveTensorSet(stream, { maxTotalBytes: floats * 8, expected: entriesOf(withMomentum(p.shard)) });
      if (set.version !== version) throw new FleetError(`its slice is at version ${set.version}, the coordinator's at ${version}`);
      const values = tensorSetValues(set);
      unpackShard(this.layout, p.shard, values.subarray(0, floats), params);
      unpackShard(this.layout, p.shard, values.subarray(floats), momentum);
    });
  }

  /** The run is over: each aggregator exits (one that is gone already is not an error). */
  async finish(reason: string): Promise<void> {
    await Promise.all(this.peers.map((p) => this.unary(p, 'finish', { reason }).catch(() => {})));
    for (const p of this.peers) p.client.close();
  }

  private async each<T>(what: string, call: (p: Peer) => Promise<T>): Promise<T[]> {
    return Promise.all(
      this.peers.map((p) =>
        call(p).catch((err: unknown) => {
          throw new AggregatorCallError(p.address, p.shard.shard, what, err);
        }),
      ),
    );
  }

  private unary<T>(p: Peer, method: 'configure' | 'closeRound' | 'finish', request: object, deadlineMs = CONTROL_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      (p.client[method] as unknown as (r: object, o: { deadline: Date }, cb: (err: ServiceError | null, res: T) => void) => void).call(
        p.client,
        request,
        { deadline: new Date(Date.now() + deadlineMs) },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });
  }
}
