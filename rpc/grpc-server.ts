import { Server, ServerCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, FLOW_CONTROL_WINDOW_BYTES } from './channel-options.js';

// grpc-js applies 'grpc-node.flow_control_window' to clients only. A server's
// stream window is an http2 setting of the server it creates at bind time,
// and its connection window can only be raised on each live session.
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, number> };
  http2Servers?: Map<{ on(event: 'session', cb: (s: { setLocalWindowSize(n: number): void }) => void): void }, unknown>;
}

/** A grpc-js server with fleet's channel options and large HTTP/2 receive windows (uploads of whole tensor sets). */
export function createGrpcServer(options: ChannelOptions = {}): Server {
  const server = new Server({ ...CHANNEL_OPTIONS, ...options });
  const internals = server as unknown as ServerInternals;
  if (internals.commonServerOptions) {
    internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: FLOW_CONTROL_WINDOW_BYTES };
  }
  return server;
}

/** Binds insecure `host:port` (port 0: any free port) and resolves with the real port. */
export async function bindGrpcServer(server: Server, host: string, port: number): Promise<number> {
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  for (const h2 of (server as unknown as ServerInternals).http2Servers?.keys() ?? []) {
    h2.on('session', (session) => {
      try { session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES); } catch { /* the session closed first: nothing to raise */ }
    });
  }
  return bound;
}

/** tryShutdown (in-flight calls finish), then forceShutdown after `graceMs`. */
export function shutdownGrpcServer(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
    server.tryShutdown(() => { clearTimeout(force); resolve(); });
  });
}
