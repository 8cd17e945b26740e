/**
 * A raw client of a real coordinator for the bad-input and fuzz tests: it
 * sends bytes (so a test can send anything, encodable or not) and reports
 * how each call ended, never throwing for a refusal.
 *
 *   const raw = new RawCoordinator(`127.0.0.1:${port}`);
 *   const { workerId } = await raw.register('tester');
 *   const outcome = await raw.contribute(messages);      // { code, details, errorClass, ms }
 *   const fuzz = await raw.callBytes('nextRound', bytes); // any bytes to any method
 *
 * Typed calls encode with the generated messages (rpc/gen) and fleet's data
 * chunk codec (rpc/coordinator-service.ts), as a worker does.
 */
import { credentials, makeGenericClientConstructor, Metadata, status as Status, type Client, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { TensorSetAssembler, type TensorSet } from '../../src/exchange/index.js';
import { FleetCoordinatorService } from '../../src/rpc/coordinator-service.js';
import { ERROR_CLASS_KEY, ERROR_TENSOR_KEY } from '../../src/rpc/grpc-status.js';
import {
  CoordinatorService,
  DescribeRunRequest,
  DescribeRunResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  LeaveRequest,
  NextRoundRequest,
  RegisterRequest,
  RegisterResponse,
  RoundAssignment,
  FetchParametersRequest,
  type ContributionChunk,
} from '../../proto/gen/fleet/v1/coordinator.js';

export type MethodName = keyof typeof CoordinatorService;
export const METHOD_NAMES = Object.keys(CoordinatorService) as MethodName[];

/** How a call ended: its status (OK included), what came back, how long it took. */
export interface CallOutcome {
  code: Status;
  details: string;
  /** The server's error class (trailing metadata 'fleet-error'), when it sent one. */
  errorClass: string | null;
  /** The refused tensor (trailing metadata 'fleet-tensor'), when there is one. */
  tensor: string | null;
  responses: Buffer[];
  ms: number;
}

export interface StreamOptions {
  /** End the request stream after the messages (default true); false leaves it open until the deadline or cancelAfterMs. */
  end?: boolean;
  /** Cancel the call this long after the last message is written. */
  cancelAfterMs?: number;
  deadlineMs?: number;
}

const identity = (b: Buffer): Buffer => b;
const BYTES_SERVICE = Object.fromEntries(
  Object.entries(CoordinatorService).map(([name, d]) => [
    name,
    { ...d, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  ]),
) as unknown as typeof CoordinatorService;
const BytesClient = makeGenericClientConstructor(BYTES_SERVICE, 'fleet.v1.Coordinator');
const HealthClient = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');

type Callback = (err: ServiceError | null, res?: Buffer) => void;
type Unary = (req: Buffer, meta: Metadata, opts: { deadline: Date }, cb: Callback) => unknown;
type Writable = { write(b: Buffer): boolean; end(): void; cancel(): void; on(e: string, l: (...a: unknown[]) => void): unknown };
type ClientStream = (meta: Metadata, opts: { deadline: Date }, cb: Callback) => Writable;
type ServerStream = (req: Buffer, meta: Metadata, opts: { deadline: Date }) => { on(e: string, l: (...a: never[]) => void): unknown };

function metaValue(metadata: Metadata | undefined, key: string): string | null {
  const v = metadata?.get(key)[0];
  return v === undefined ? null : String(v);
}

export class RawCoordinator {
  private readonly client: Client & Record<string, unknown>;
  private readonly health: Client & Record<string, unknown>;

  constructor(
    readonly address: string,
    readonly defaultDeadlineMs = 10_000,
    /** A connection of its own (not shared with other clients of the same address): the server's per-connection limits. */
    ownConnection = false,
  ) {
    // No receive limit of our own: the server's limits are under test, not ours.
    this.client = new BytesClient(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      ...(ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
    }) as never;
    this.health = new HealthClient(address, credentials.createInsecure()) as never;
  }

  /** Any bytes as the request of any method (a client-streaming method gets them as its one message). */
  callBytes(method: MethodName, request: Buffer | Buffer[], options: StreamOptions = {}): Promise<CallOutcome> {
    const d = CoordinatorService[method];
    const messages = Array.isArray(request) ? request : [request];
    if (d.requestStream) return this.clientStream(method, messages, options);
    if (d.responseStream) return this.serverStream(method, messages[0] ?? Buffer.alloc(0), options);
    return this.unary(method, messages[0] ?? Buffer.alloc(0), options);
  }

  async register(workerName: string, runId = ''): Promise<RegisterResponse> {
    return RegisterResponse.decode(
      this.ok(
        await this.unary('register', Buffer.from(RegisterRequest.encode({ runId, workerName, backend: 'test' }).finish())),
        'register',
      ),
    );
  }

  async describe(): Promise<DescribeRunResponse> {
    return DescribeRunResponse.decode(
      this.ok(await this.unary('describeRun', Buffer.from(DescribeRunRequest.encode({}).finish())), 'describe'),
    );
  }

  async nextRound(workerId: string, fromRound: number, deadlineMs?: number): Promise<RoundAssignment> {
    const outcome = await this.unary(
      'nextRound',
      Buffer.from(NextRoundRequest.encode({ workerId, fromRound }).finish()),
      deadlineMs === undefined ? {} : { deadlineMs },
    );
    return RoundAssignment.decode(this.ok(outcome, 'next round'));
  }

  async heartbeat(workerId: string): Promise<boolean> {
    return HeartbeatResponse.decode(
      this.ok(
        await this.unary('heartbeat', Buffer.from(HeartbeatRequest.encode({ workerId, round: 0, stepsDone: 0 }).finish())),
        'heartbeat',
      ),
    ).known;
  }

  async leave(workerId: string, reason = 'test'): Promise<void> {
    this.ok(await this.unary('leave', Buffer.from(LeaveRequest.encode({ workerId, reason }).finish())), 'leave');
  }

  /** The outcome of a FetchParameters call (for refusals). */
  fetchOutcome(version: number, workerId = 'evaluator'): Promise<CallOutcome> {
    return this.serverStream(
      'fetchParameters',
      Buffer.from(FetchParametersRequest.encode({ workerId, version, tensors: [] }).finish()),
      {},
    );
  }

  /** Parameters of `version` (0: current), assembled and checked (CRC, finite). */
  async fetch(version = 0): Promise<TensorSet> {
    const outcome = await this.fetchOutcome(version);
    this.ok(outcome, 'fetch parameters');
    const assembler = new TensorSetAssembler({});
    for (const b of outcome.responses) assembler.push(FleetCoordinatorService.fetchParameters.responseDeserialize(b));
    return assembler.finish();
  }

  /** A Contribute call with these messages, encoded as a worker encodes them. */
  contribute(messages: readonly ContributionChunk[], options: StreamOptions = {}): Promise<CallOutcome> {
    return this.clientStream(
      'contribute',
      messages.map((m) => FleetCoordinatorService.contribute.requestSerialize(m)),
      options,
    );
  }

  /**
   * A Contribute call left open: the test writes messages when it likes
   * (a trickle, a stall) and reads how the call ended from `outcome`.
   */
  openContribute(options: StreamOptions = {}): {
    write(m: ContributionChunk): boolean;
    end(): void;
    cancel(): void;
    outcome: Promise<CallOutcome>;
  } {
    let writable: Writable | null = null;
    const outcome = this.clientStream('contribute', [], { ...options, end: false }, (w) => {
      writable = w;
    });
    const w = writable as unknown as Writable;
    return {
      write: (m) => w.write(FleetCoordinatorService.contribute.requestSerialize(m)),
      end: () => w.end(),
      cancel: () => w.cancel(),
      outcome,
    };
  }

  /** grpc.health.v1 Check of `service` ('' the server, 'fleet.v1.Coordinator' the run). */
  healthOf(service: string): Promise<string> {
    return new Promise((resolve, reject) => {
      (this.health as unknown as { check(req: unknown, opts: unknown, cb: (e: Error | null, r: { status: string }) => void): void }).check(
        { service },
        { deadline: new Date(Date.now() + 5000) },
        (err, res) => (err ? reject(err) : resolve(res.status)),
      );
    });
  }

  close(): void {
    this.client.close();
    this.health.close();
  }

  /** The first response of a call that succeeded; throws naming the status otherwise. */
  private ok(outcome: CallOutcome, what: string): Buffer {
    if (outcome.code !== Status.OK) throw new Error(`${what}: ${Status[outcome.code]} ${outcome.details}`);
    return outcome.responses[0] ?? Buffer.alloc(0);
  }

  private deadline(options: StreamOptions): Date {
    return new Date(Date.now() + (options.deadlineMs ?? this.defaultDeadlineMs));
  }

  private unary(method: MethodName, request: Buffer, options: StreamOptions = {}): Promise<CallOutcome> {
    const started = performance.now();
    return new Promise((resolve) => {
      (this.client[method] as Unary).call(this.client, request, new Metadata(), { deadline: this.deadline(options) }, (err, res) => {
        resolve(
          err
            ? {
                code: err.code,
                details: err.details,
                errorClass: metaValue(err.metadata, ERROR_CLASS_KEY),
                tensor: metaValue(err.metadata, ERROR_TENSOR_KEY),
                responses: [],
                ms: performance.now() - started,
              }
            : {
                code: Status.OK,
                details: '',
                errorClass: null,
                tensor: null,
                responses: res ? [res] : [],
                ms: performance.now() - started,
              },
        );
      });
    });
  }

  private clientStream(
    method: MethodName,
    messages: readonly Buffer[],
    options: StreamOptions,
    opened?: (call: Writable) => void,
  ): Promise<CallOutcome> {
    const started = performance.now();
    return new Promise((resolve) => {
      const call = (this.client[method] as ClientStream).call(
        this.client,
        new Metadata(),
        { deadline: this.deadline(options) },
        (err, res) => {
          clearTimeout(cancel);
          resolve(
            err
              ? {
                  code: err.code,
                  details: err.details,
                  errorClass: metaValue(err.metadata, ERROR_CLASS_KEY),
                  tensor: metaValue(err.metadata, ERROR_TENSOR_KEY),
                  responses: [],
                  ms: performance.now() - started,
                }
              : {
                  code: Status.OK,
                  details: '',
                  errorClass: null,
                  tensor: null,
                  responses: res ? [res] : [],
                  ms: performance.now() - started,
                },
          );
        },
      );
      call.on('error', () => {}); // reported through the callback
      opened?.(call);
      for (const m of messages) call.write(m);
      if (options.end ?? true) call.end();
      const cancel = options.cancelAfterMs === undefined ? undefined : setTimeout(() => call.cancel(), options.cancelAfterMs);
    });
  }

  private serverStream(method: MethodName, request: Buffer, options: StreamOptions): Promise<CallOutcome> {
    const started = performance.now();
    return new Promise((resolve) => {
      const responses: Buffer[] = [];
      const call = (this.client[method] as ServerStream).call(this.client, request, new Metadata(), { deadline: this.deadline(options) });
      call.on('data', (b: Buffer) => responses.push(b));
      call.on('error', () => {}); // the status below says it
      call.on('status', (s: { code: Status; details: string; metadata: Metadata }) => {
        resolve({
          code: s.code,
          details: s.details,
          errorClass: metaValue(s.metadata, ERROR_CLASS_KEY),
          tensor: metaValue(s.metadata, ERROR_TENSOR_KEY),
          responses,
          ms: performance.now() - started,
        });
      });
    });
  }
}
