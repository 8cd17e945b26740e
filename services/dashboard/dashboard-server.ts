import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { decideAccess } from './access.js';
import type { ChangeNotice } from './api-types.js';
import type { Board } from './board.js';

/**
 * The dashboard's HTTP server: the page (bundled at build time into
 * dist/dashboard/, nothing fetched elsewhere), the board as JSON, and
 * /api/stream, server-sent events naming what changed so the page fetches
 * it again. Every request passes the access check first (access.ts).
 */

/** The page files, as `npm run build` writes them. */
export const PAGE_DIR = new URL('../../dashboard/', import.meta.url);
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};
/**
 * Only the page's own files run: no inline script or style, nothing from
 * elsewhere. Markup that slipped into the document could not run a script.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** Changes are sent at most this often (a round's events come in bursts). */
const NOTICE_EVERY_MS = 300;
/** A comment line on idle streams, so proxies and the browser keep them open. */
const KEEPALIVE_MS = 15_000;

export class DashboardPageMissingError extends FleetError {
  constructor(readonly dir: string) {
    super(`the dashboard page is not built (${dir} has no index.html): run npm run build`);
  }
}

export interface DashboardServerOptions {
  board: Board;
  host: string;
  port: number;
  token: string | null;
  log: Logger;
}

export interface DashboardServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startDashboardServer(o: DashboardServerOptions): Promise<DashboardServer> {
  const page = await loadPage();
  const streams = new Set<ServerResponse>();
  const pending: ChangeNotice = { runs: [], sweeps: [] };
  let noticeTimer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    noticeTimer = null;
    const notice: ChangeNotice = { runs: [...new Set(pending.runs)], sweeps: [...new Set(pending.sweeps)] };
    pending.runs = [];
    pending.sweeps = [];
    const text = `event: change\ndata: ${JSON.stringify(notice)}\n\n`;
    for (const s of streams) s.write(text);
  };
  const stopListening = o.board.onChange((c) => {
    pending.runs.push(...c.runs);
    pending.sweeps.push(...c.sweeps);
    noticeTimer ??= setTimeout(flush, NOTICE_EVERY_MS);
  });
  const keepalive = setInterval(() => {
    for (const s of streams) s.write(': keepalive\n\n');
  }, KEEPALIVE_MS);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const access = decideAccess(req, o.token);
    if (access.kind === 'refused') {
      o.log.warn(
        { status: access.status, reason: access.reason, url: redacted(req.url), peer: req.socket.remoteAddress },
        'request refused',
      );
      return send(res, access.status, 'text/plain; charset=utf-8', `fleet dashboard: ${access.reason}\n`);
    }
    if (access.kind === 'set-cookie') {
      res.writeHead(303, { 'set-cookie': access.cookie, location: access.location, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'text/plain; charset=utf-8', 'GET only\n', { allow: 'GET, HEAD' });
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    const file = PAGE_FILES[path];
    if (file !== undefined) return send(res, 200, file.type, page.get(file.file)!);
    if (path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (path === '/api/list') return json(res, o.board.list());
    if (path === '/api/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    const m = /^\/api\/(runs|sweeps)\/([^/]+)$/.exec(path);
    if (m !== null) {
      let id: string;
      try {
        id = decodeURIComponent(m[2]!);
      } catch {
        return send(res, 400, 'text/plain; charset=utf-8', `fleet dashboard: ${m[2]} is not a URL-encoded id\n`);
      }
      const detail = m[1] === 'runs' ? await o.board.run(id) : await o.board.sweep(id);
      if (detail === null)
        return send(res, 404, 'application/json', JSON.stringify({ error: `no ${m[1] === 'runs' ? 'run' : 'sweep'} ${id}` }));
      return json(res, detail);
    }
    return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      o.log.error({ url: redacted(req.url), err: err.message }, 'request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `fleet dashboard: ${err.message}\n`);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = o.host.includes(':') ? `[${o.host}]` : o.host === '0.0.0.0' ? '127.0.0.1' : o.host;
  return {
    port,
    url: `http://${hostInUrl}:${port}/`,
    close: async () => {
      stopListening();
      clearInterval(keepalive);
      if (noticeTimer !== null) clearTimeout(noticeTimer);
      for (const s of streams) s.end();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

async function loadPage(): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const { file } of Object.values(PAGE_FILES)) {
    try {
      out.set(file, await readFile(new URL(file, PAGE_DIR)));
    } catch {
      throw new DashboardPageMissingError(PAGE_DIR.pathname);
    }
  }
  return out;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  res.end(body);
}

function json(res: ServerResponse, value: unknown): void {
  send(res, 200, 'application/json', JSON.stringify(value));
}

/** The request's path for a log line, without a token it may carry. */
function redacted(url: string | undefined): string {
  return (url ?? '').replace(/([?&]token=)[^&]*/g, '$1(redacted)');
}
