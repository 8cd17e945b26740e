import { Server, type ChannelOptions } from '@grpc/grpc-js';
import type { Socket } from 'node:net';
import { CHANNEL_OPTIONS, FLOW_CONTROL_WINDOW_BYTES } from './channel-options.js';
import { INSECURE, type GrpcSecurity } from './security/grpc-security.js';
import { serverTokenInterceptor, type RefusedCall } from './security/server-token-interceptor.js';
import { serverCredentialsFrom } from './security/tls-credentials.js';
import { TokenFileWatch } from './security/token-file-watch.js';
import { callLimitInterceptor, wireLimitsFromEnv, wireServerOptions, type LimitedCall, type WireLimits } from './wire-limits.js';
import type { Logger } from '../runtime/logger.js';

// grpc-js applies 'grpc-node.flow_control_window' to clients only. A server's
// stream window is an http2 setting of the server it creates at bind time,
// and its connection window can only be raised on each live session.
interface H2Session {
  setLocalWindowSize(n: number): void;
  destroy(): void;
  once(event: 'stream' | 'close', cb: () => void): void;
}

interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, number> };
  http2Servers?: Map<
    {
      on(event: 'session', cb: (s: H2Session) => void): void;
      on(event: 'tlsClientError', cb: (err: Error, socket: { remoteAddress?: string; remotePort?: number }) => void): void;
      on(event: 'connection', cb: (socket: Socket) => void): void;
    },
    unknown
  >;
}

/** Who may call: the token part of the security (TLS is the bind's business), and who hears of refusals. */
export interface ServerSecurityOptions {
  security: GrpcSecurity;
  /** Each call refused for a missing or wrong token (nothing ran for it). */
  onUnauthenticated?: (call: RefusedCall) => void;
  /** The limits of what clients may hold (default DEFAULT_WIRE_LIMITS, or FLEET_WIRE_LIMITS_JSON in tests). */
  limits?: WireLimits;
  /** Each call refused for a limit (RESOURCE_EXHAUSTED, nothing ran for it). */
  onLimited?: (call: LimitedCall) => void;
  /** Where token rotations, refused connections and calls over a limit are logged. */
  log?: Pick<Logger, 'info' | 'warn'>;
}

/** What a server holds besides grpc-js's own: its limits and the watch of its token file, ended with it. */
interface ServerExtras {
  limits: WireLimits;
  log?: Pick<Logger, 'info' | 'warn'>;
  close(): void;
}
const extras = new WeakMap<Server, ServerExtras>();

/**
 * A grpc-js server with fleet's channel options and large HTTP/2 receive
 * windows (uploads of whole tensor sets). With a token, every call but the
 * health service's must carry it (a server interceptor, before any handler).
 */
export function createGrpcServer(options: ChannelOptions = {}, access: ServerSecurityOptions = { security: INSECURE }): Server {
  const { security, log } = access;
  const limits = access.limits ?? wireLimitsFromEnv();
  let watch: TokenFileWatch | null = null;
  let onHangup: (() => void) | null = null;
  if (security.token !== null && security.tokenFile !== undefined) {
    // Token rotation: the file is followed (and re-read on SIGHUP); the previous token stays accepted for the window.
    const path = security.tokenFile;
    const tokenWatch = new TokenFileWatch(path, security.token, {
      ...(security.tokenRotationWindowMs !== undefined ? { windowMs: security.tokenRotationWindowMs } : {}),
      onRotated: (r) =>
        log?.info(
          { tokenFile: path, tokens: r.tokens, retired: r.retired, retiredAcceptedUntil: new Date(r.retiredUntil).toISOString() },
          'token rotated',
        ),
      onError: (reason) => log?.warn({ tokenFile: path, reason }, 'token file not usable: the tokens held are kept'),
    });
    watch = tokenWatch;
    onHangup = () => tokenWatch.reload();
    process.on('SIGHUP', onHangup);
  }
  const tokenCheck = watch ?? security.token;
  const interceptors = [
    // The token first: an unauthenticated call is refused before it is counted or anything is allocated for it.
    ...(tokenCheck === null
      ? []
      : [serverTokenInterceptor(tokenCheck, access.onUnauthenticated ? { onRefused: access.onUnauthenticated } : {})]),
    callLimitInterceptor(limits, (call) => {
      log?.warn({ method: call.method, peer: call.peer, limit: call.limit, open: call.open }, 'call refused: over its limit');
      access.onLimited?.(call);
    }),
  ];
  const server = new Server({ ...CHANNEL_OPTIONS, ...wireServerOptions(limits), ...options, interceptors });
  const internals = server as unknown as ServerInternals;
  if (internals.commonServerOptions) {
    internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: FLOW_CONTROL_WINDOW_BYTES };
  }
  extras.set(server, {
    limits,
    ...(log ? { log } : {}),
    close() {
      watch?.close();
      if (onHangup) process.removeListener('SIGHUP', onHangup);
    },
  });
  return server;
}

export interface BindOptions {
  /** TLS (and mutual TLS with a CA) when `security.tls` is set; plaintext otherwise. */
  security?: GrpcSecurity;
  /** A TLS handshake that failed (no or a foreign client certificate, a plaintext client): no call was made. */
  onTlsRefused?: (peer: string, err: Error) => void;
}

/**
 * Binds `host:port` (port 0: any free port) and resolves with the real port.
 * The TLS files are read here: a bad one rejects with a TlsFileError naming its flag.
 */
export async function bindGrpcServer(server: Server, host: string, port: number, bind: BindOptions = {}): Promise<number> {
  const credentials = await serverCredentialsFrom((bind.security ?? INSECURE).tls);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  const sockets = socketsOf(server);
  for (const h2 of (server as unknown as ServerInternals).http2Servers?.keys() ?? []) {
    h2.on('connection', (socket) => {
      const extra = extras.get(server);
      if (extra && sockets.size >= extra.limits.maxConnections) {
        // Over the cap: closed before any HTTP/2 session (and its buffers) exists for it.
        extra.log?.warn({ peer: `${socket.remoteAddress}:${socket.remotePort}`, open: sockets.size }, 'connection refused: too many open');
        socket.destroy();
        return;
      }
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    h2.on('session', (session) => {
      try {
        session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES);
      } catch {
        /* the session closed first: nothing to raise */
      }
      // A connection that never calls is closed after firstCallMs, not held for the idle limit.
      const firstCallMs = extras.get(server)?.limits.firstCallMs;
      if (firstCallMs !== undefined && firstCallMs > 0) {
        const timer = setTimeout(() => session.destroy(), firstCallMs);
        timer.unref();
        session.once('stream', () => clearTimeout(timer));
        session.once('close', () => clearTimeout(timer));
      }
    });
    // An extra listener: http2's own still closes the socket.
    if (bind.onTlsRefused) {
      const onTlsRefused = bind.onTlsRefused;
      h2.on('tlsClientError', (err, socket) =>
        onTlsRefused(socket.remoteAddress === undefined ? 'unknown (closed)' : `${socket.remoteAddress}:${socket.remotePort ?? 0}`, err),
      );
    }
  }
  return bound;
}

/** Every connection's socket, per server: what forceShutdown may leave open. */
const connections = new WeakMap<Server, Set<Socket>>();

function socketsOf(server: Server): Set<Socket> {
  let sockets = connections.get(server);
  if (!sockets) {
    sockets = new Set();
    connections.set(server, sockets);
  }
  return sockets;
}

/**
 * tryShutdown (in-flight calls finish), then forceShutdown after `graceMs`.
 * Forced, every connection's socket is destroyed too: Node ends an HTTP/2
 * session's socket only once its pending writes are flushed, which a frozen
 * peer (SIGSTOP, a dead node) with a full receive window never lets happen,
 * and that socket would keep the process alive after its work is done.
 */
export function shutdownGrpcServer(server: Server, graceMs: number): Promise<void> {
  extras.get(server)?.close();
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      for (const socket of connections.get(server) ?? []) socket.destroy();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
