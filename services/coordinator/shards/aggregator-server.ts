import { status as Status, type ServerReadableStream, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { entriesOf, TensorSetError } from '../../../src/exchange/tensor-wire.js';
import {
  FLOAT32_WIRE,
  TensorSetSink,
  chunkTensorSet,
  encodeTensorSet,
  parameterWire,
  tensorSetValues,
  wireDtypeOf,
  type WireFormat,
} from '../../../src/exchange/index.js';
import { readContribution, receiveTensorSet, sendTensorChunks, sendTensorSet } from '../../../src/rpc/tensor-stream.js';
import { toGrpcStatus, toServiceError, type StatusRule } from '../../../src/rpc/grpc-status.js';
import { bindGrpcServer, createGrpcServer, shutdownGrpcServer } from '../../../src/rpc/grpc-server.js';
import { uploadDeadlineMs, wireLimitsFromEnv } from '../../../src/rpc/wire-limits.js';
import { FleetCoordinatorService, encodeTensorChunks } from '../../../src/rpc/coordinator-service.js';
import { INSECURE, type GrpcSecurity } from '../../../src/rpc/security/index.js';
import type { Logger } from '../../../src/runtime/logger.js';
import { parseTrainConfig } from '../../../src/runtime/config/train-config.js';
import {
  ContributionKind,
  type ContributionChunk,
  type ContributeResponse,
  type CoordinatorServer,
  type TensorChunk,
} from '../../../proto/gen/fleet/v1/coordinator.js';
import { AggregatorService, ClosePhase, type AggregatorServer } from '../../../proto/gen/fleet/v1/aggregator.js';
import { VectorMemory } from '../../../src/compute/vector-math/index.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { COORDINATOR_STATUS } from '../rpc/coordinator-status.js';
import { SINK_SCRATCH_FLOATS } from '../rpc/coordinator-server.js';
import { ShardAggregate, ShardStateError } from './shard-aggregate.js';
import type { StagedContribution } from '../aggregator/weighted-sum.js';
import { MASTER_PREFIX, MOMENTUM_PREFIX, PREPARE_WAIT_MS, withMomentum } from './shard-wire.js';
import { OneAtATime } from '../rpc/coordinator-server.js';

const AGGREGATOR_STATUS: readonly StatusRule[] = [[ShardStateError, Status.FAILED_PRECONDITION], ...COORDINATOR_STATUS];

/** What the coordinator configured: the run's wire format and this aggregator's slice. */
interface Configured {
  runId: string;
  shard: number;
  slices: WeightSlice[];
  aggregate: ShardAggregate;
  wire: WireFormat;
  wireDtype: ReturnType<typeof wireDtypeOf>;
}

/** A version's FetchParameters messages, encoded once for every worker that fetches it (a snapshot). */
interface Encoding {
  version: number;
  messages: TensorChunk[];
  bytes: number;
}

export interface AggregatorServerOptions {
  host: string;
  port: number;
  log: Logger;
  security?: GrpcSecurity;
  /** A contribution stream silent this long is refused and frees its turn. */
  contributionIdleMs: number;
}

/**
 * A `fleet aggregator`: the data plane of one slice of the parameters
 * (--shards K). The coordinator configures it (fleet.v1.Aggregator: the run,
 * the slice, its values) and closes its rounds; workers fetch the slice and
 * contribute their slices of the round through fleet.v1.Coordinator's
 * FetchParameters and Contribute. Resolves `finished` when the coordinator
 * says the run is over.
 */
export async function startAggregatorServer(o: AggregatorServerOptions): Promise<{
  port: number;
  finished: Promise<string>;
  shutdown: (graceMs: number) => Promise<void>;
}> {
  const { log } = o;
  let configured: Configured | null = null;
  let finish!: (reason: string) => void;
  const finished = new Promise<string>((resolve) => {
    finish = resolve;
  });
  const turn = new OneAtATime();
  const vectorsFor = (floats: number) => VectorMemory.create(floats * 4 + SINK_SCRATCH_FLOATS);
  let scratch: Float32Array = new Float32Array(SINK_SCRATCH_FLOATS);
  let encoding: Encoding | null = null;

  const need = (): Configured => {
    if (!configured) throw new ShardStateError('this aggregator is not configured yet: its coordinator configures it at start');
    return configured;
  };
  const fail = (cb: sendUnaryData<never>, err: unknown, what: string) => {
    const code = toGrpcStatus(err, AGGREGATOR_STATUS);
    if (code === Status.INTERNAL) log.error({ err }, `${what} failed`);
    else log.warn({ code: Status[code], err: (err as Error).message }, `${what} refused`);
    cb(toServiceError(err, AGGREGATOR_STATUS) as never, null);
  };
  const refuseStream = (call: ServerWritableStream<unknown, unknown>, err: unknown, what: string) => {
    log.warn({ err: (err as Error).message }, `${what} refused`);
    call.emit('error', Object.assign(new Error((err as Error).message), toServiceError(err, AGGREGATOR_STATUS)));
  };
  const notHere = (cb: sendUnaryData<never>, what: string) =>
    cb(
      { code: Status.UNIMPLEMENTED, details: `this is a fleet aggregator (a shard of the parameters): ${what} is the coordinator's` },
      null,
    );

  const data: CoordinatorServer = {
    register: (_call, cb) => notHere(cb as sendUnaryData<never>, 'Register'),
    nextRound: (_call, cb) => notHere(cb as sendUnaryData<never>, 'NextRound'),
    heartbeat: (_call, cb) => notHere(cb as sendUnaryData<never>, 'Heartbeat'),
    attend: (call) =>
      call.emit(
        'error',
        Object.assign(new Error("Attend is the coordinator's"), {
          code: Status.UNIMPLEMENTED,
          details: "this is a fleet aggregator (a shard of the parameters): Attend is the coordinator's",
        }),
      ),
    leave: (_call, cb) => notHere(cb as sendUnaryData<never>, 'Leave'),
    describeRun: (_call, cb) => notHere(cb as sendUnaryData<never>, 'DescribeRun'),

    fetchParameters(call) {
      let c: Configured;
      let wire: WireFormat;
      let lease: ReturnType<ShardAggregate['acquire']>;
      try {
        c = need();
        const dtype = call.request.dtype;
        if (call.request.tensors.length > 0) throw new ShardStateError('an aggregator sends its whole slice: ask with no tensor names');
        wire = !dtype || dtype === 'float32' ? FLOAT32_WIRE : dtype === c.wire.dtype ? c.wire : null!;
        if (!wire)
          throw new TensorSetError(`dtype ${dtype} asked for; this run sends float32 or ${c.wireDtype}`, null, c.wireDtype, dtype ?? '');
        lease = c.aggregate.acquire(call.request.version);
      } catch (err) {
        refuseStream(call as never, err, 'parameter fetch');
        return;
      }
      try {
        if (wire !== c.wire) {
          const set = encodeTensorSet(entriesOf(c.slices), lease.values, lease.version, wire);
          sendTensorSet(call, set).catch((err: unknown) => log.debug({ err: (err as Error).message }, 'parameter transfer stopped'));
          return;
        }
        if (encoding?.version !== lease.version) {
          // Encoded once per version (a copy: the master moves on while fetches still send it).
          const set = encodeTensorSet(entriesOf(c.slices), lease.values, lease.version, wire);
          encoding = { version: lease.version, messages: encodeTensorChunks(chunkTensorSet(set)).messages, bytes: set.buffer.byteLength };
        }
      } catch (err) {
        refuseStream(call as never, err, 'parameter fetch');
        return;
      } finally {
        lease.release();
      }
      const e = encoding;
      sendTensorChunks(call, e.messages, e.bytes).catch((err: unknown) =>
        log.debug({ err: (err as Error).message }, 'parameter transfer stopped'),
      );
    },

    contribute(call: ServerReadableStream<ContributionChunk, ContributeResponse>, cb: sendUnaryData<ContributeResponse>) {
      void (async () => {
        const release = await turn.take();
        let staged: StagedContribution | null = null;
        let c: Configured | null = null;
        try {
          c = need();
          const slice = c;
          const expected = entriesOf(slice.slices, slice.wireDtype);
          const contributionBytes = expected.reduce((n, e) => n + e.byteLength, 0);
          // Idle-limited, and cut at the upload deadline: a trickling sender cannot hold its staging for long (docs/security.md).
          const uploadMs = () => wireLimitsFromEnv().contributionUploadMs ?? uploadDeadlineMs(o.contributionIdleMs, contributionBytes);
          const { header, receiver } = await readContribution(call, { idleMs: o.contributionIdleMs, uploadMs }, (h) => {
            const kind = kindOf(h.kind);
            const into = slice.aggregate.stage(h.workerId, h.round, h.version, kind, h.sampleCount);
            staged = into;
            return new TensorSetSink((floats) => into.accumulate(floats), { maxTotalBytes: contributionBytes, expected, scratch });
          });
          receiver.finish();
          slice.aggregate.commit(header.workerId, header.round, staged!);
          cb(null, { round: header.round, nextVersion: header.version + 1 });
        } catch (err) {
          if (call.cancelled) log.info({ err: (err as Error).message }, 'contribution abandoned by its sender');
          else fail(cb as sendUnaryData<never>, err, 'contribution');
        } finally {
          if (staged && c) c.aggregate.discard(staged);
          release();
        }
      })();
    },
  };

  const control: AggregatorServer = {
    configure(call, cb) {
      try {
        const r = call.request;
        const config = parseTrainConfig(JSON.parse(r.configJson));
        // Serves nothing until the slice's values are loaded.
        configured = null;
        pendingConfig = { runId: r.runId, shard: r.shard, config, names: r.tensors, optimizerSteps: r.optimizerSteps };
        log.info({ run: r.runId, shard: r.shard, shards: r.shards, tensors: r.tensors.length }, 'configured');
        cb(null, { floats: 0 });
      } catch (err) {
        fail(cb as sendUnaryData<never>, err, 'configure');
      }
    },

    load(call, cb) {
      void (async () => {
        try {
          const p = pendingConfig;
          if (!p) throw new ShardStateError('load before configure');
          const set = await receiveTensorSet(call, { maxTotalBytes: 2 ** 33 });
          const all = tensorSetValues(set);
          const slices: WeightSlice[] = [];
          let offset = 0;
          for (const name of p.names) {
            const entry = set.entries.find((e) => e.name === MASTER_PREFIX + name);
            const m = set.entries.find((e) => e.name === MOMENTUM_PREFIX + name);
            if (!entry || !m) throw new ShardStateError(`load lacks ${entry ? MOMENTUM_PREFIX : MASTER_PREFIX}${name}`);
            const length = entry.shape.reduce((a, b) => a * b, 1);
            slices.push({ name, shape: [...entry.shape], trainable: entry.trainable, offset, length });
            offset += length;
          }
          const vectors = vectorsFor(offset);
          scratch = vectors.zeros(SINK_SCRATCH_FLOATS);
          const params = vectors.zeros(offset);
          const momentum = vectors.zeros(offset);
          const floatOffset = (name: string) => set.entries.find((e) => e.name === name)!.byteOffset / 4;
          for (const s of slices) {
            const po = floatOffset(MASTER_PREFIX + s.name);
            params.set(all.subarray(po, po + s.length), s.offset);
            const mo = floatOffset(MOMENTUM_PREFIX + s.name);
            momentum.set(all.subarray(mo, mo + s.length), s.offset);
          }
          const aggregate = new ShardAggregate({
            slices,
            kind: p.config.syncEvery === 1 ? 'gradients' : 'parameters',
            momentum: p.config.momentum,
            weightDecay: p.config.weightDecay,
            optimizerSteps: p.optimizerSteps,
            vectors,
          });
          aggregate.load(params, momentum, set.version);
          encoding = null;
          configured = {
            runId: p.runId,
            shard: p.shard,
            slices,
            aggregate,
            wire: parameterWire(p.config.compress),
            wireDtype: wireDtypeOf(p.config.compress),
          };
          log.info({ shard: p.shard, version: set.version, floats: offset }, 'slice loaded');
          cb(null, { version: set.version });
        } catch (err) {
          fail(cb as sendUnaryData<never>, err, 'load');
        }
      })();
    },

    closeRound(call, cb) {
      try {
        const c = need();
        const r = call.request;
        if (r.phase === ClosePhase.CLOSE_PHASE_PREPARE) {
          // Slices still on their way are waited for (a bounded wait: a worker lost mid-upload makes the round run again).
          c.aggregate.whenHolding(r.round, r.contributors, PREPARE_WAIT_MS).then(
            () => {
              const mismatch = c.aggregate.prepare(r.round, r.version, r.contributors);
              cb(null, { ready: mismatch === null, mismatch: mismatch ?? '', version: c.aggregate.version });
            },
            (err: unknown) => fail(cb as sendUnaryData<never>, err, 'close round'),
          );
        } else if (r.phase === ClosePhase.CLOSE_PHASE_COMMIT) {
          const version = c.aggregate.commitRound(r.round, r.lr);
          cb(null, { ready: true, mismatch: '', version });
        } else if (r.phase === ClosePhase.CLOSE_PHASE_ABORT) {
          c.aggregate.abort(r.round);
          cb(null, { ready: true, mismatch: '', version: c.aggregate.version });
        } else {
          throw new ShardStateError(`close phase ${r.phase}`);
        }
      } catch (err) {
        fail(cb as sendUnaryData<never>, err, 'close round');
      }
    },

    gather(call) {
      try {
        const c = need();
        const { version, params, momentum } = c.aggregate.current();
        const entries = withMomentum({ slices: c.slices, floats: params.length });
        const both = new Float32Array(params.length * 2);
        both.set(params);
        both.set(momentum, params.length);
        sendTensorSet(call, encodeTensorSet(entriesOf(entries), both, version, FLOAT32_WIRE)).catch((err: unknown) =>
          log.warn({ err: (err as Error).message }, 'gather stopped'),
        );
      } catch (err) {
        refuseStream(call as never, err, 'gather');
      }
    },

    finish(call, cb) {
      cb(null, {});
      finish(call.request.reason || 'finished');
    },
  };
  let pendingConfig: {
    runId: string;
    shard: number;
    config: ReturnType<typeof parseTrainConfig>;
    names: string[];
    optimizerSteps: number;
  } | null = null;

  const server = createGrpcServer({}, { security: o.security ?? INSECURE, log });
  server.addService(FleetCoordinatorService, data);
  server.addService(AggregatorService, control);
  new HealthImplementation({ '': 'SERVING', 'fleet.v1.Aggregator': 'SERVING' }).addToServer(server);
  const port = await bindGrpcServer(server, o.host, o.port, {
    security: o.security ?? INSECURE,
    onTlsRefused: (peer, err) => log.warn({ peer, err: err.message }, 'TLS handshake refused'),
  });
  return { port, finished, shutdown: (graceMs) => shutdownGrpcServer(server, graceMs) };
}

function kindOf(kind: ContributionKind): 'gradients' | 'parameters' {
  if (kind === ContributionKind.CONTRIBUTION_KIND_GRADIENTS) return 'gradients';
  if (kind === ContributionKind.CONTRIBUTION_KIND_PARAMETERS) return 'parameters';
  throw new TensorSetError(`contribution kind ${kind}`);
}
