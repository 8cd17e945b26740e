import { Server, type ChannelOptions } from '@grpc/grpc-js';
import type { Socket } from 'node:net';
import { CHANNEL_OPTIONS, FLOW_CONTROL_WINDOW_BYTES } from './channel-options.js';
import { INSECURE, type GrpcSecurity } from './security/grpc-security.js';
import { serverTokenInterceptor, type RefusedCall } from './security/server-token-interceptor.js';
import { serverCredentialsFrom } from './security/tls-credentials.js';

// grpc-js applies 'grpc-node.flow_control_window' to clients only. A server's
// stream window is an http2 setting of the server it creates at bind time,
// and its connection window can only be raised on each live session.
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, number> };
  http2Servers?: Map<
    {
      on(event: 'session', cb: (s: { setLocalWindowSize(n: number): void }) => void): void;
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
}

/**
 * A grpc-js server with fleet's channel options and large HTTP/2 receive
 * windows (uploads of whole tensor sets). With a token, every call but the
 * health service's must carry it (a server interceptor, before any handler).
 */
export function createGrpcServer(options: ChannelOptions = {}, access: ServerSecurityOptions = { security: INSECURE }): Server {
  const { token } = access.security;
  const interceptors =
    token === null ? [] : [serverTokenInterceptor(token, access.onUnauthenticated ? { onRefused: access.onUnauthenticated } : {})];
  const server = new Server({ ...CHANNEL_OPTIONS, ...options, interceptors });
  const internals = server as unknown as ServerInternals;
  if (internals.commonServerOptions) {
    internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: FLOW_CONTROL_WINDOW_BYTES };
  }
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
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    h2.on('session', (session) => {
      try {
        session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES);
      } catch {
        /* the session closed first: nothing to raise */
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
