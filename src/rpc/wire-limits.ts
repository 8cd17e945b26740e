import { Metadata, ServerInterceptingCall, status as Status, type ChannelOptions, type ServerInterceptor } from '@grpc/grpc-js';
import { DEFAULT_CHUNK_BYTES } from '../exchange/index.js';

/** How many calls of one method may be open at once: from one connection, and in all. */
export interface CallLimit {
  perPeer: number;
  total: number;
}

/**
 * What one server lets its clients hold, so a client that opens many
 * streams, sends oversized messages or connects and never calls cannot
 * exhaust the process or block the others. Sizes of whole uploads are the
 * services' business (a contribution is checked against its expected byte
 * length, chunk by chunk); these are the transport's.
 */
export interface WireLimits {
  /**
   * The largest request message: a data chunk (1 MiB) plus room for its
   * framing and a header's manifest. A larger one is refused by grpc-js
   * from its length prefix, before its bytes are buffered (RESOURCE_EXHAUSTED).
   */
  maxRequestBytes: number;
  /** HTTP/2 streams open at once on one connection (grpc.max_concurrent_streams): more wait at the client. */
  maxConcurrentStreams: number;
  /** A connection with no call open this long is closed (GOAWAY; a real client reconnects on its next call). */
  maxConnectionIdleMs: number;
  /**
   * A connection that has not opened its first call this long after its
   * HTTP/2 session began is closed: one that connects and never calls holds
   * a connection slot for seconds, not for the idle limit.
   */
  firstCallMs: number;
  /** Connections at once; one more is closed on arrival. Each may hold up to a flow-control window of buffered data. */
  maxConnections: number;
  /** Per method name (the last part of the path: Contribute, FetchParameters...); others take `otherMethods`. */
  methods: Record<string, CallLimit>;
  otherMethods: CallLimit;
  /**
   * Contribute (coordinator and aggregators): all of an upload's data must
   * arrive this long after its header took the contribution slot (UploadDeadlineError,
   * DEADLINE_EXCEEDED). Unset: uploadDeadlineMs (the idle limit plus the upload's bytes at 4 MiB/s).
   */
  contributionUploadMs?: number;
}

export const DEFAULT_WIRE_LIMITS: WireLimits = {
  maxRequestBytes: DEFAULT_CHUNK_BYTES + 64 * 1024,
  maxConcurrentStreams: 32,
  maxConnectionIdleMs: 5 * 60_000,
  firstCallMs: 10_000,
  maxConnections: 256,
  methods: {
    // A worker has one upload open; a second covers a retry racing its cancelled predecessor's close.
    Contribute: { perPeer: 2, total: 64 },
    // A worker fetches one version at a time; the evaluator one more. A fetch of an old version is encoded per call.
    FetchParameters: { perPeer: 4, total: 32 },
    // --shards: the coordinator loads each aggregator's slice on one stream.
    Load: { perPeer: 2, total: 16 },
    Gather: { perPeer: 2, total: 16 },
  },
  // Unary calls, NextRound's long poll among them, and the health service's Watch.
  otherMethods: { perPeer: 8, total: 512 },
};

/** The limits with test-only overrides: FLEET_WIRE_LIMITS_JSON (a partial WireLimits, read once). Not a flag: tests shrink the idle time. */
export function wireLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): WireLimits {
  const raw = env.FLEET_WIRE_LIMITS_JSON;
  if (!raw) return DEFAULT_WIRE_LIMITS;
  const o = JSON.parse(raw) as Partial<WireLimits>;
  return { ...DEFAULT_WIRE_LIMITS, ...o, methods: { ...DEFAULT_WIRE_LIMITS.methods, ...o.methods } };
}

/** The server options that carry `limits`. */
export function wireServerOptions(limits: WireLimits): ChannelOptions {
  return {
    'grpc.max_receive_message_length': limits.maxRequestBytes,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.max_connection_idle_ms': limits.maxConnectionIdleMs,
  };
}

/** A call refused for a limit (after the refusal was sent). */
export interface LimitedCall {
  method: string;
  peer: string;
  limit: 'per-peer' | 'total';
  open: number;
}

export const limitDetails = (method: string, which: 'per-peer' | 'total', max: number): string =>
  which === 'per-peer'
    ? `too many open ${method} calls from this connection (at most ${max})`
    : `too many open ${method} calls on this server (at most ${max}): try again later`;

/**
 * Counts each method's open calls per connection and in all, when a call's
 * headers arrive (after the token check, which comes first: an
 * unauthenticated call is never counted), and refuses one over a limit with
 * RESOURCE_EXHAUSTED before its handler starts, so it allocates nothing. A
 * call counts until its status is sent or it is cancelled.
 */
export function callLimitInterceptor(limits: WireLimits, onLimited?: (call: LimitedCall) => void): ServerInterceptor {
  const total = new Map<string, number>();
  const perPeer = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, n: number) => {
    const v = (map.get(key) ?? 0) + n;
    if (v <= 0) map.delete(key);
    else map.set(key, v);
  };
  return (method, call) => {
    const name = method.path.slice(method.path.lastIndexOf('/') + 1);
    const limit = limits.methods[name] ?? limits.otherMethods;
    let counted: { peerKey: string } | null = null;
    const release = () => {
      if (!counted) return;
      add(total, name, -1);
      add(perPeer, counted.peerKey, -1);
      counted = null;
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata: Metadata, nextMetadata: (m: Metadata) => void) {
            const peer = call.getPeer();
            const peerKey = `${name} ${peer}`;
            const openTotal = total.get(name) ?? 0;
            const openPeer = perPeer.get(peerKey) ?? 0;
            const over = openPeer >= limit.perPeer ? 'per-peer' : openTotal >= limit.total ? 'total' : null;
            if (over) {
              const max = over === 'per-peer' ? limit.perPeer : limit.total;
              call.sendStatus({ code: Status.RESOURCE_EXHAUSTED, details: limitDetails(name, over, max), metadata: new Metadata() });
              onLimited?.({ method: method.path, peer, limit: over, open: over === 'per-peer' ? openPeer : openTotal });
              return;
            }
            counted = { peerKey };
            add(total, name, 1);
            add(perPeer, peerKey, 1);
            nextMetadata(metadata);
          },
          onCancel() {
            release();
          },
        });
      },
      sendStatus(status, next) {
        release();
        next(status);
      },
    });
  };
}

/** The slowest upload rate a contribution may have by default: 4 MiB/s (32 Mbit/s), far below any training cluster's links. */
export const MIN_UPLOAD_BYTES_PER_SECOND = 4 * 1024 * 1024;

/**
 * How long a contribution of `bytes` may take once it holds the
 * contribution slot: the idle limit, plus its bytes at
 * MIN_UPLOAD_BYTES_PER_SECOND. A sender trickling data just fast enough to
 * escape the idle limit is cut then (UploadDeadlineError).
 */
export function uploadDeadlineMs(idleMs: number, bytes: number): number {
  return Math.ceil(idleMs + (bytes / MIN_UPLOAD_BYTES_PER_SECOND) * 1000);
}
