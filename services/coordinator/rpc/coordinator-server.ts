import {
  status as Status,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { AggregatorJoinService, type JoinRequest, type JoinResponse } from '../../../proto/gen/fleet/v1/aggregator.js';
import type { AggregatorJoins } from '../shards/aggregator-joins.js';
import { packShard, type ShardSlice } from '../../../src/exchange/shard-assignment.js';
import { entriesOf, TensorSetError } from '../../../src/exchange/tensor-wire.js';
import { UnknownTensorError } from '../../../src/exchange/tensor-set-errors.js';
import {
  FLOAT32_WIRE,
  TensorSetSink,
  chunkTensorSet,
  encodeTensorSet,
  parameterWire,
  wireDtypeOf,
  type TensorSet,
  type WireFormat,
} from '../../../src/exchange/index.js';
import { readContribution, sendTensorChunks, sendTensorSet } from '../../../src/rpc/tensor-stream.js';
import type { Logger } from '../../../src/runtime/logger.js';
import type { TrainConfig } from '../../../src/runtime/config/train-config.js';
import { toGrpcStatus, toServiceError } from '../../../src/rpc/grpc-status.js';
import { COORDINATOR_STATUS } from './coordinator-status.js';
import { bindGrpcServer, createGrpcServer, shutdownGrpcServer } from '../../../src/rpc/grpc-server.js';
import { uploadDeadlineMs, wireLimitsFromEnv } from '../../../src/rpc/wire-limits.js';
import { INSECURE, type GrpcSecurity, type RefusedCall } from '../../../src/rpc/security/index.js';
import {
  ContributionKind,
  type ContributeResponse,
  type ContributionChunk,
  type CoordinatorServer,
  type FetchParametersRequest,
  type RegisterResponse,
  type RoundAssignment,
  type TensorChunk,
} from '../../../proto/gen/fleet/v1/coordinator.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { FleetCoordinatorService, encodeTensorChunks } from '../../../src/rpc/coordinator-service.js';
import { HealthImplementation } from 'grpc-health-check';
import type { RoundController } from '../rounds/round-controller.js';
import { workerTimes } from './worker-times.js';
import { ExchangeCounter } from '../telemetry/run-reporter.js';
import type { VectorMemory } from '../../../src/compute/vector-math/index.js';
import type { StagedContribution } from '../aggregator/weighted-sum.js';
import { FleetError } from '../../../src/runtime/errors.js';
import { UnknownWorkerError, VersionUnavailableError } from '../rounds/errors.js';

/** A worker started with --run-id of another run (CoordinatorRefusal.RunMismatch). */
export class RunMismatchError extends FleetError {
  constructor(
    readonly runId: string,
    readonly asked: string,
  ) {
    super(`this coordinator runs ${runId}, not ${asked}`);
  }
}
const RUN_MISMATCH_STATUS = [[RunMismatchError, Status.FAILED_PRECONDITION]] as const;

/**
 * --shards: a whole-model fetch of a version whose other slices are still
 * with the aggregators (only checkpoint versions are whole here). A
 * VersionUnavailableError: clients already know to take a kept version.
 */
export class ShardedVersionError extends VersionUnavailableError {
  constructor(version: number, retained: readonly number[]) {
    super(version, version, retained);
    this.message = `parameter version ${version} is held in slices by the aggregators (--shards): fetch a checkpoint version${retained.length ? ` (kept: ${retained.join(', ')})` : ''}, or each slice from its aggregator`;
  }
}

/** 256 KiB: a contribution's floats pass through it on their way into the sum, and stay in cache. */
export const SINK_SCRATCH_FLOATS = 65536;

export interface ServerOptions {
  host: string;
  port: number;
  heartbeatIntervalMs: number;
  /**
   * A contribution stream that sends nothing this long is refused
   * (DEADLINE_EXCEEDED) and frees its slot; default the controller's
   * heartbeat timeout (such a member is evicted anyway).
   */
  contributionIdleMs?: number;
  /**
   * A contribution whose data has not all arrived this long after its header
   * took the turn is refused (DEADLINE_EXCEEDED, UploadDeadlineError); default
   * uploadDeadlineMs: the idle limit plus its bytes at 4 MiB/s.
   */
  contributionUploadMs?: number;
  /** TLS / mutual TLS and the token every call must carry; default none (plaintext, open). */
  security?: GrpcSecurity;
  /** Each call refused for its token, after it was logged. */
  onUnauthenticated?: (call: RefusedCall) => void;
  /** Each contribution refused (not one abandoned by its sender), with the error class the worker is sent. */
  onContributionRefused?: (errorClass: string) => void;
}

/**
 * One contribution received at a time; the others wait (gRPC flow control
 * holds their senders). The round's sum then needs one staging buffer
 * however many workers there are.
 */
export class OneAtATime {
  private busy = false;
  private waiting: (() => void)[] = [];
  async take(): Promise<() => void> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.busy = false;
    };
  }
}

interface Encoding {
  version: number;
  values: Float32Array;
  messages: TensorChunk[];
  wire: Buffer;
  /** The set's data bytes as sent (half the parameters' with --compress). */
  bytes: number;
  senders: number;
}

/**
 * The current version's FetchParameters messages, encoded once for all the
 * workers that fetch it (in the run's wire format: --compress; CRC,
 * manifest and data in wire form). The previous encoding's memory is
 * reused when no fetch is still sending it; so is the 16-bit buffer, which
 * the messages copy.
 */
class ParameterEncodings {
  private current: Encoding | null = null;
  private halves: Uint16Array | undefined;
  constructor(
    private readonly entries: ReturnType<typeof entriesOf>,
    private readonly wire: WireFormat,
  ) {}

  of(version: number, values: Float32Array): Encoding {
    const c = this.current;
    if (c && c.version === version && c.values === values) return c;
    const reuse = c && c.senders === 0 ? c.wire : undefined;
    const set = encodeTensorSet(this.entries, values, version, this.wire, this.halves);
    if (this.wire.dtype !== 'float32') this.halves = new Uint16Array(set.buffer.buffer, set.buffer.byteOffset, set.buffer.byteLength / 2);
    const { messages, wire } = encodeTensorChunks(chunkTensorSet(set), reuse);
    this.current = { version, values, messages, wire, bytes: set.buffer.byteLength, senders: 0 };
    return this.current;
  }
}

/** What the service serves: the run's config, the model's layout, where it logs and counts. */
export interface ServeContext {
  config: TrainConfig;
  layout: readonly WeightSlice[];
  log: Logger;
  exchange?: ExchangeCounter;
  vectors?: VectorMemory;
  /** --shards K > 1: who aggregates which tensors, told to every worker at registration (shard 0: this coordinator). */
  shards?: { address: string; tensors: string[] }[];
  /** --shards K > 1: this coordinator's own slice (tensors, ranges of tensors), which its workers fetch. */
  shardZero?: ShardSlice;
  /** --shards K > 1: whether the master holds all of `version` (gathered from the aggregators at a checkpoint). */
  isWhole?: (version: number) => boolean;
}

/** Where and how the server listens. */
export type ListenOptions = Pick<ServerOptions, 'host' | 'port' | 'security' | 'onUnauthenticated'> & {
  log: Logger;
  /** --shards K --aggregators join: aggregators join here (fleet.v1.AggregatorJoin), also while the run is starting. */
  joins?: AggregatorJoins;
};

/** How the service answers, once it has a run. */
export type ServeOptions = Omit<ServerOptions, 'host' | 'port' | 'security' | 'onUnauthenticated'>;

/** A bound server: calls are answered UNAVAILABLE (the coordinator is starting) until serve(). */
export interface CoordinatorListener {
  port: number;
  serve(controller: RoundController, context: ServeContext, options: ServeOptions): void;
  shutdown(graceMs: number): Promise<void>;
}

const STARTING = 'the coordinator is starting (loading the data and the model): try again';

/**
 * Binds the coordinator's server before it has a run, so a port in use or a
 * bad host fails before the data is loaded and the run directory written.
 * Until serve(), every call is refused with UNAVAILABLE, which workers and
 * the evaluator retry as they would a coordinator not yet up, and the
 * health service says NOT_SERVING. A bind failure is grpc-js's error.
 */
export async function bindCoordinatorServer(options: ListenOptions): Promise<CoordinatorListener> {
  const { log } = options;
  let impl: CoordinatorServer | null = null;
  const starting = (cb: sendUnaryData<never>) => cb({ code: Status.UNAVAILABLE, details: STARTING }, null);
  const gated: CoordinatorServer = {
    register: (call, cb) => (impl ? impl.register(call, cb) : starting(cb as sendUnaryData<never>)),
    nextRound: (call, cb) => (impl ? impl.nextRound(call, cb) : starting(cb as sendUnaryData<never>)),
    contribute: (call, cb) => (impl ? impl.contribute(call, cb) : starting(cb as sendUnaryData<never>)),
    fetchParameters: (call) => {
      if (impl) impl.fetchParameters(call);
      // As a refused fetch is ended (see fetchParameters): 'error' carries the status.
      else call.emit('error', Object.assign(new Error(STARTING), { code: Status.UNAVAILABLE, details: STARTING }));
    },
    heartbeat: (call, cb) => (impl ? impl.heartbeat(call, cb) : starting(cb as sendUnaryData<never>)),
    attend: (call) => {
      if (impl) impl.attend(call);
      else call.emit('error', Object.assign(new Error(STARTING), { code: Status.UNAVAILABLE, details: STARTING }));
    },
    describeRun: (call, cb) => (impl ? impl.describeRun(call, cb) : starting(cb as sendUnaryData<never>)),
    leave: (call, cb) => (impl ? impl.leave(call, cb) : starting(cb as sendUnaryData<never>)),
  };
  let unauthenticated = 0;
  const server = createGrpcServer(
    {},
    {
      security: options.security ?? INSECURE,
      log,
      onUnauthenticated: (call) => {
        unauthenticated++;
        log.warn(
          { method: call.method, peer: call.peer, reason: call.reason, total: unauthenticated },
          'call refused: missing or wrong token',
        );
        options.onUnauthenticated?.(call);
      },
    },
  );
  server.addService(FleetCoordinatorService, gated);
  const joins = options.joins;
  if (joins) {
    server.addService(AggregatorJoinService, {
      join(call: ServerUnaryCall<JoinRequest, JoinResponse>, cb: sendUnaryData<JoinResponse>) {
        try {
          const shard = joins.join(call.request.address);
          log.info({ address: call.request.address, shard, joined: joins.count, expected: joins.expected }, 'aggregator joined');
          cb(null, { shard });
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'aggregator join refused');
          cb({ code: Status.FAILED_PRECONDITION, details: (err as Error).message }, null);
        }
      },
    });
  }
  // The standard grpc.health.v1 service: '' and 'fleet.v1.Coordinator' are SERVING
  // while the run goes on (Kubernetes' native gRPC probes ask it), not while it starts.
  const health = new HealthImplementation({ '': 'NOT_SERVING', 'fleet.v1.Coordinator': 'NOT_SERVING' });
  health.addToServer(server);
  let port: number;
  try {
    port = await bindGrpcServer(server, options.host, options.port, {
      security: options.security ?? INSECURE,
      onTlsRefused: (peer, err) => log.warn({ peer, err: err.message }, 'TLS handshake refused'),
    });
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  return {
    port,
    serve(controller, context, serveOptions) {
      impl = coordinatorService(controller, context, serveOptions);
      health.setStatus('', 'SERVING');
      health.setStatus('fleet.v1.Coordinator', 'SERVING');
      void controller.finished.then(
        () => health.setStatus('fleet.v1.Coordinator', 'NOT_SERVING'),
        () => {
          health.setStatus('', 'NOT_SERVING');
          health.setStatus('fleet.v1.Coordinator', 'NOT_SERVING');
        },
      );
    },
    shutdown: (graceMs) => shutdownGrpcServer(server, graceMs),
  };
}

/** bindCoordinatorServer, then serve at once (tests, benchmarks). */
export async function startCoordinatorServer(
  controller: RoundController,
  context: ServeContext,
  options: ServerOptions,
): Promise<{ port: number; shutdown: (graceMs: number) => Promise<void> }> {
  const { host, port, security, onUnauthenticated, ...serveOptions } = options;
  const listener = await bindCoordinatorServer({
    host,
    port,
    log: context.log,
    ...(security ? { security } : {}),
    ...(onUnauthenticated ? { onUnauthenticated } : {}),
  });
  listener.serve(controller, context, serveOptions);
  return { port: listener.port, shutdown: (graceMs) => listener.shutdown(graceMs) };
}

/**
 * The coordinator's gRPC service over a RoundController. Tensors go as a
 * manifest then 1 MiB chunks; every refusal carries a status from
 * COORDINATOR_STATUS and its error class, and changes nothing.
 */
function coordinatorService(controller: RoundController, context: ServeContext, options: ServeOptions): CoordinatorServer {
  const { config, layout, log } = context;
  const exchange = context.exchange ?? new ExchangeCounter();
  // --compress: the run's wire format. Workers ask for it (they read it in the run config); the
  // evaluator asks for float32, since it saves what it scores.
  const runWire = parameterWire(config.compress);
  const wireDtype = wireDtypeOf(config.compress);
  const wireOf = (dtype: string | undefined): WireFormat => {
    if (!dtype || dtype === 'float32') return FLOAT32_WIRE;
    if (dtype === runWire.dtype) return runWire;
    throw new TensorSetError(
      `dtype ${dtype} asked for; this run sends float32 or ${runWire.dtype} (--compress ${config.compress})`,
      null,
      runWire.dtype,
      dtype,
    );
  };
  const turn = new OneAtATime();
  const contributionIdleMs = options.contributionIdleMs ?? controller.heartbeatTimeoutMs;
  const uploadLimit = options.contributionUploadMs ?? wireLimitsFromEnv().contributionUploadMs;
  // Each contribution is summed as it arrives (WeightedSum.stage, TensorSetSink) through this
  // scratch, in the controller's vector memory: no model-sized receive buffer.
  const sinkScratch = context.vectors?.zeros(SINK_SCRATCH_FLOATS) ?? new Float32Array(SINK_SCRATCH_FLOATS);
  const fail = (cb: sendUnaryData<never>, err: unknown, what: string) => {
    const code = toGrpcStatus(err, COORDINATOR_STATUS);
    if (code === Status.INTERNAL) log.error({ err }, `${what} failed`);
    else log.warn({ code: Status[code], err: (err as Error).message }, `${what} refused`);
    cb(toServiceError(err, COORDINATOR_STATUS) as never, null);
  };

  const entries = entriesOf(layout);
  const encodings = new ParameterEncodings(entries, runWire);
  /** The last subset encoded for the current version (every worker of a sharded run asks for the same one). */
  let subsetEncoding: { key: string; set: TensorSet } | null = null;
  // The first version's encoding now: its memory is reused by every later version.
  const first = controller.acquireParameters(0);
  try {
    encodings.of(first.version, first.values);
  } finally {
    first.release();
  }

  const impl: CoordinatorServer = {
    register(call, cb: sendUnaryData<RegisterResponse>) {
      const req = call.request;
      if (req.runId && req.runId !== config.runId) {
        cb(toServiceError(new RunMismatchError(config.runId, req.runId), RUN_MISMATCH_STATUS) as never, null);
        return;
      }
      try {
        const workerId = controller.register(req.workerName || call.getPeer());
        cb(null, {
          workerId,
          runId: config.runId,
          configJson: JSON.stringify(config),
          heartbeatIntervalMs: options.heartbeatIntervalMs,
          shards: context.shards ?? [],
        });
      } catch (err) {
        fail(cb as sendUnaryData<never>, err, 'register');
      }
    },

    nextRound(call, cb: sendUnaryData<RoundAssignment>) {
      controller.nextRound(call.request.workerId, call.request.fromRound).then(
        (a) =>
          cb(
            null,
            a === null
              ? { round: 0, epoch: 0, version: 0, globalStep: 0, batches: [], finished: true, deadlineUnixMs: 0, memberIndex: 0 }
              : {
                  round: a.round,
                  epoch: a.epoch,
                  version: a.version,
                  globalStep: a.globalStep,
                  batches: a.batches.map((b) => ({ indices: [...b.indices], lr: b.lr })),
                  finished: false,
                  deadlineUnixMs: a.deadlineUnixMs,
                  memberIndex: a.memberIndex,
                },
          ),
        (err: unknown) => fail(cb as sendUnaryData<never>, err, 'next round'),
      );
    },

    contribute(call: ServerReadableStream<ContributionChunk, ContributeResponse>, cb: sendUnaryData<ContributeResponse>) {
      void (async () => {
        let release: (() => void) | null = null;
        let staged: StagedContribution | null = null;
        let contributionBytes = 0;
        try {
          // Idle-limited: a hung sender (SIGSTOP mid-upload) would otherwise hold the turn, and every other contribution, until its own deadline.
          // The turn is taken once the header names a member, and the upload must then end within contributionUploadMs:
          // a stream from no member, or one trickling data, cannot hold the turn (wire limits, docs/security.md).
          const { header, receiver } = await readContribution(
            call,
            { idleMs: contributionIdleMs, uploadMs: () => uploadLimit ?? uploadDeadlineMs(contributionIdleMs, contributionBytes) },
            async (h) => {
              if (!controller.heartbeat(h.workerId)) throw new UnknownWorkerError(h.workerId);
              release = await turn.take();
              // What the open round exchanges: the whole model, or a frozen phase's trainable subset (--freeze-epochs).
              // As it travels: in the run's dtype (--compress), which is the only one accepted.
              const expected = entriesOf(controller.exchangeSlices(), wireDtype);
              contributionBytes = expected.reduce((n, e) => n + e.byteLength, 0);
              const into = controller.stageContribution(h.sampleCount);
              staged = into;
              return new TensorSetSink((floats) => into.accumulate(floats), {
                maxTotalBytes: contributionBytes,
                expected,
                scratch: sinkScratch,
              });
            },
          );
          receiver.finish();
          const kind =
            header.kind === ContributionKind.CONTRIBUTION_KIND_GRADIENTS
              ? 'gradients'
              : header.kind === ContributionKind.CONTRIBUTION_KIND_PARAMETERS
                ? 'parameters'
                : null;
          if (!kind) throw new TensorSetError(`contribution kind ${header.kind}`);
          const result = controller.contribute(header.workerId, {
            round: header.round,
            version: header.version,
            kind,
            sampleCount: header.sampleCount,
            lossSum: header.lossSum,
            correct: header.correct,
            values: staged!,
            trainMs: header.trainMs,
            ...workerTimes(header),
          });
          exchange.in += contributionBytes;
          cb(null, { round: result.round, nextVersion: result.nextVersion });
        } catch (err) {
          // The sender went away mid-upload (cancelled, killed): no one to answer, and not a fault of ours.
          if (call.cancelled) log.info({ err: (err as Error).message }, 'contribution abandoned by its sender');
          else {
            options.onContributionRefused?.(err instanceof Error ? err.name : 'Error');
            fail(cb as sendUnaryData<never>, err, 'contribution');
          }
        } finally {
          // A refused contribution leaves no trace in the sum (a no-op once committed).
          if (staged) controller.discardContribution(staged);
          (release as (() => void) | null)?.();
        }
      })();
    },

    fetchParameters(call: ServerWritableStream<FetchParametersRequest, TensorChunk>) {
      // 'error' (not destroy): grpc-js then ends the stream with this status;
      // a destroyed stream never sends one and the client waits for its deadline.
      const refuse = (err: unknown) => {
        if (toGrpcStatus(err, COORDINATOR_STATUS) === Status.INTERNAL) log.error({ err }, 'parameter fetch failed');
        else log.warn({ err: (err as Error).message, version: call.request.version }, 'parameter fetch refused');
        call.emit('error', Object.assign(new Error((err as Error).message), toServiceError(err, COORDINATOR_STATUS)));
      };
      let wire: WireFormat;
      let lease: ReturnType<RoundController['acquireParameters']>;
      try {
        wire = wireOf(call.request.dtype);
        lease = controller.acquireParameters(call.request.version);
      } catch (err) {
        refuse(err);
        return;
      }
      if (call.request.tensors.length > 0) {
        // A frozen phase's worker asks for the trainable subset, a sharded run's (--shards) for this coordinator's
        // slice: packed and encoded once per version and set of names (a snapshot: the master may move on).
        let set: TensorSet;
        try {
          const key = `${lease.version}/${wire.dtype}/${call.request.tensors.join(',')}`;
          if (subsetEncoding?.key === key) set = subsetEncoding.set;
          else {
            const own = context.shardZero;
            const subset =
              own && key.endsWith(`/${own.tensors.join(',')}`)
                ? { entries: entriesOf(own.slices), values: packShard(layout, own, lease.values, new Float32Array(own.floats)) }
                : packSubset(layout, call.request.tensors, lease.values);
            set = encodeTensorSet(subset.entries, subset.values, lease.version, wire);
            if (lease.version === controller.currentVersion) subsetEncoding = { key, set };
          }
        } catch (err) {
          lease.release();
          refuse(err);
          return;
        }
        lease.release();
        sendTensorSet(call, set).then(
          () => {
            exchange.out += set.buffer.byteLength;
          },
          (err: unknown) => log.debug({ err: (err as Error).message, version: lease.version }, 'parameter transfer stopped'),
        );
        return;
      }
      if (context.isWhole && lease.version === controller.currentVersion && !context.isWhole(lease.version)) {
        // --shards: the other slices of this version are with the aggregators until a checkpoint gathers them.
        lease.release();
        refuse(new ShardedVersionError(lease.version, controller.retainedVersions()));
        return;
      }
      if (lease.version !== controller.currentVersion || wire !== runWire) {
        // A retained checkpoint version, or float32 in a compressed run (the evaluator): rare, encoded per fetch.
        let set: TensorSet;
        try {
          set = encodeTensorSet(entries, lease.values, lease.version, wire);
        } catch (err) {
          lease.release();
          refuse(err);
          return;
        }
        sendTensorSet(call, set)
          .then(
            () => {
              exchange.out += set.buffer.byteLength;
            },
            (err: unknown) => {
              log.debug({ err: (err as Error).message, version: lease.version }, 'parameter transfer stopped');
            },
          )
          .finally(() => lease.release());
        return;
      }
      // The encoding is a snapshot: the master may move on while it streams.
      let encoding: Encoding;
      try {
        encoding = encodings.of(lease.version, lease.values);
      } catch (err) {
        // A value --compress fp16 cannot carry (TensorOverflowError): the worker is told which.
        refuse(err);
        return;
      } finally {
        lease.release();
      }
      encoding.senders++;
      void (async () => {
        try {
          await sendTensorChunks(call, encoding.messages, encoding.bytes);
          exchange.out += encoding.bytes;
        } catch (err) {
          // The worker went away mid-transfer (cancelled or closed): it will ask again.
          log.debug({ err: (err as Error).message }, 'parameter transfer stopped');
        } finally {
          encoding.senders--;
        }
      })();
    },

    heartbeat(call, cb) {
      cb(null, { known: controller.heartbeat(call.request.workerId) });
    },

    attend(call) {
      const worker = call.request.workerId;
      if (!controller.heartbeat(worker)) {
        const details = `unknown worker ${worker}: register (again) first`;
        call.emit('error', Object.assign(new Error(details), { code: Status.NOT_FOUND, details }));
        return;
      }
      // Held open, nothing sent. The client's process dying closes its connection, and with it this
      // stream: the member goes at once rather than at the heartbeat timeout. A member that already
      // left or re-registered under a new id is not one any more: nothing happens then.
      let ended = false;
      const dropped = () => {
        if (ended) return;
        ended = true;
        controller.connectionDropped(worker);
      };
      call.on('cancelled', dropped);
      call.on('error', dropped);
    },

    describeRun(_call, cb) {
      cb(null, {
        runId: config.runId,
        configJson: JSON.stringify(config),
        version: controller.currentVersion,
        retainedVersions: controller.retainedVersions(),
      });
    },

    leave(call, cb) {
      controller.leave(call.request.workerId, call.request.reason || 'left');
      cb(null, {});
    },
  };

  return impl;
}

/** The named tensors of `values` (the model's flat layout), packed in layout order; an unknown name is refused. */
function packSubset(
  layout: readonly WeightSlice[],
  names: readonly string[],
  values: Float32Array,
): { entries: ReturnType<typeof entriesOf>; values: Float32Array } {
  const wanted = new Set(names);
  const known = new Set(layout.map((s) => s.name));
  for (const name of wanted) if (!known.has(name)) throw new UnknownTensorError(name);
  let offset = 0;
  const slices = layout
    .filter((s) => wanted.has(s.name))
    .map((s) => {
      const packed = { ...s, offset };
      offset += s.length;
      return packed;
    });
  const out = new Float32Array(offset);
  for (const [i, s] of layout.filter((x) => wanted.has(x.name)).entries())
    out.set(values.subarray(s.offset, s.offset + s.length), slices[i]!.offset);
  return { entries: entriesOf(slices), values: out };
}
