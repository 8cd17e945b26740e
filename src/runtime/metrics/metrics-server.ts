import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServerOptions {
  host: string;
  /** 0 lets the OS pick a free port; read the real one back from `port`. */
  port: number;
}

export interface MetricsServer {
  /** The port actually bound (differs from the option when it was 0). */
  readonly port: number;
  /** Where Prometheus scrapes, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Stops listening and drops every open connection; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Serves one registry over plain HTTP: `GET /metrics` (the scrape),
 * `GET /healthz` (a liveness probe that does not touch the registry), 404 for
 * anything else. One server per registry, so each service in a process keeps
 * its own port and its own series.
 */
export async function startMetricsServer(registry: Registry, options: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    void handle(registry, req, res);
  });

  await new Promise<void>((resolve, reject) => {
    // A bind failure (EADDRINUSE, EACCES) arrives as 'error', not as a throw.
    const onError = (err: Error): void => {
      reject(err);
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;

  return {
    port,
    url: `http://${host}:${port}/metrics`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => {
          if (err) reject(err);
          else resolve();
        });
        // close() alone waits for keep-alive sockets (a scraper holds one open
        // between scrapes) to time out; drop them so shutdown stays in budget.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(registry: Registry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0];
  // HEAD is answered like GET; node:http leaves the body out by itself.
  const readable = req.method === 'GET' || req.method === 'HEAD';
  if (readable && path === '/metrics') {
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
    } catch (err) {
      // A collect callback threw: say which, rather than serve a partial scrape.
      const message = err instanceof Error ? err.message : String(err);
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(message);
    }
  } else if (readable && path === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok');
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found');
  }
}
