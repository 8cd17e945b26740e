import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { bearerMatches, bearerValue } from '../../src/rpc/security/bearer-token.js';

/**
 * Who may read the dashboard. With a token, a request must carry it: as
 * `Authorization: Bearer TOKEN` (scripts, curl), or as the cookie a browser
 * gets by opening any page once with `?token=TOKEN` (the server answers with
 * the cookie and a redirect to the same address without the token, so it
 * leaves the address bar and the history). The cookie holds a digest of the
 * token, not the token. Every comparison is constant-time (bearerMatches).
 * Without a token (loopback only), a request must name a loopback host, so
 * a web page elsewhere cannot read the dashboard by rebinding its own name
 * to 127.0.0.1.
 */

export const TOKEN_COOKIE = 'fleet-dashboard';
export const TOKEN_QUERY = 'token';

export type AccessDecision =
  | { kind: 'allowed' }
  /** The right token in the query: set the cookie, send the browser to `location` (the address without the token). */
  | { kind: 'set-cookie'; cookie: string; location: string }
  | { kind: 'refused'; status: 401 | 403; reason: string };

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function cookieValue(token: string): string {
  return createHash('sha256').update(`fleet-dashboard:${token}`, 'utf8').digest('hex');
}

export function decideAccess(request: IncomingMessage, token: string | null): AccessDecision {
  if (token === null) {
    const host = hostName(request.headers.host);
    return host !== null && LOOPBACK_HOSTS.has(host)
      ? { kind: 'allowed' }
      : { kind: 'refused', status: 403, reason: `host ${JSON.stringify(request.headers.host ?? '')} is not this machine's loopback name` };
  }
  if (bearerMatches(token, request.headers.authorization)) return { kind: 'allowed' };
  const cookie = cookieOf(request.headers.cookie, TOKEN_COOKIE);
  if (cookie !== null && bearerMatches(cookieValue(token), bearerValue(cookie))) return { kind: 'allowed' };
  const url = new URL(request.url ?? '/', 'http://dashboard');
  const given = url.searchParams.get(TOKEN_QUERY);
  if (given !== null && request.method === 'GET' && bearerMatches(token, bearerValue(given))) {
    url.searchParams.delete(TOKEN_QUERY);
    return {
      kind: 'set-cookie',
      cookie: `${TOKEN_COOKIE}=${cookieValue(token)}; Path=/; HttpOnly; SameSite=Strict`,
      location: `${url.pathname}${url.search}`,
    };
  }
  return { kind: 'refused', status: 401, reason: 'missing or wrong token' };
}

function hostName(host: string | undefined): string | null {
  if (host === undefined) return null;
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host.trim().toLowerCase());
  return m?.[1] ?? null;
}

function cookieOf(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
