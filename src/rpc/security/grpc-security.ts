import { readFile } from 'node:fs/promises';
import { isValidTokenText } from './bearer-token.js';
import { securityFlagError, TlsFileError } from './errors.js';
import { parseTokenFile } from './token-file-watch.js';
import { readTlsFiles, type TlsFiles } from './tls-files.js';
import { checkTlsPairing } from './tls-credentials.js';

/**
 * How a service's gRPC is secured. `tls` null: plaintext. `token` null: no
 * token is sent (client) or asked for (server). `serverName`: the name a
 * client checks the server's certificate for, when it is not the host it
 * dials (clients only).
 */
export interface GrpcSecurity {
  tls: TlsFiles | null;
  token: string | null;
  serverName?: string;
  /** --token-file: where `token` came from; re-read when it changes (token rotation, TokenFileWatch). */
  tokenFile?: string;
  /** Servers, with tokenFile: how long the previous token stays accepted after the file changes (default 10 min). */
  tokenRotationWindowMs?: number;
}

export const INSECURE: GrpcSecurity = { tls: null, token: null };

/** The flags (or FLEET_* variables) as given: strings, unchecked. */
export interface RawGrpcSecurity {
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsCa?: string | undefined;
  tlsServerName?: string | undefined;
  /** Clients: TLS without any file (the server is verified against the system's roots). */
  tls?: boolean | undefined;
  token?: string | undefined;
  tokenFile?: string | undefined;
  /** Servers: --token-rotation-window, in seconds. */
  tokenRotationWindow?: string | undefined;
}

export type SecurityRole = 'server' | 'client';

async function tokenFrom(raw: RawGrpcSecurity): Promise<string | null> {
  if (raw.token !== undefined && raw.tokenFile !== undefined)
    throw securityFlagError('--token-file', raw.tokenFile, 'give --token or --token-file, not both');
  let token = raw.token;
  let flag = '--token';
  if (raw.tokenFile !== undefined) {
    flag = '--token-file';
    try {
      // A Kubernetes secret or `echo` leaves a trailing newline: not part of the token.
      token = (await readFile(raw.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new TlsFileError('--token-file', raw.tokenFile, `cannot read the file (${(err as Error).message})`);
    }
  }
  if (token === undefined) return null;
  // The value itself never goes into an error message: it is a secret.
  if (raw.tokenFile !== undefined) {
    // A file may list several tokens, one per line (a rotation, docs/security.md): the first is sent, all are accepted.
    const parsed = parseTokenFile(token);
    if (typeof parsed === 'string') throw securityFlagError(flag, raw.tokenFile, parsed);
    return parsed[0]!;
  }
  if (token.length === 0) throw securityFlagError(flag, '', 'the token is empty (a missing secret?)');
  if (!isValidTokenText(token))
    throw securityFlagError(flag, '(hidden)', 'a token is visible ASCII without spaces (it travels as an HTTP/2 header)');
  return token;
}

/**
 * The one place where the security flags become a GrpcSecurity: checks the
 * combinations for the role, reads the token file, and reads and checks the
 * TLS files now, so a bad file is a usage error at start (exit 2 naming the
 * flag) rather than a failure at the first connection.
 */
export async function parseGrpcSecurity(raw: RawGrpcSecurity, role: SecurityRole): Promise<GrpcSecurity> {
  // A flag given empty (an unset secret in a manifest) counts as given and fails below: security fails closed.
  const files: TlsFiles = {};
  const { tlsCert: cert, tlsKey: key, tlsCa: ca, tlsServerName: serverName } = raw;
  if (cert !== undefined) files.cert = cert;
  if (key !== undefined) files.key = key;
  if (ca !== undefined) files.ca = ca;
  if (serverName === '') throw securityFlagError('--tls-server-name', serverName, 'the name is empty');
  const anyFile = cert !== undefined || key !== undefined || ca !== undefined;
  const useTls = anyFile || (role === 'client' && (raw.tls === true || serverName !== undefined));
  if (useTls) {
    checkTlsPairing(files, role);
    await readTlsFiles(files);
  }
  const security: GrpcSecurity = { tls: useTls ? files : null, token: await tokenFrom(raw) };
  if (raw.tokenFile !== undefined) security.tokenFile = raw.tokenFile;
  if (raw.tokenRotationWindow !== undefined) {
    const seconds = Number(raw.tokenRotationWindow);
    if (raw.tokenRotationWindow.trim() === '' || !Number.isFinite(seconds) || seconds < 0)
      throw securityFlagError('--token-rotation-window', raw.tokenRotationWindow, 'seconds, a number >= 0');
    if (raw.tokenFile === undefined)
      throw securityFlagError('--token-rotation-window', raw.tokenRotationWindow, 'rotation re-reads --token-file: give it as well');
    security.tokenRotationWindowMs = Math.round(seconds * 1000);
  }
  if (role === 'client' && serverName !== undefined) security.serverName = serverName;
  return security;
}

/** What to log once at start: the mode, never a secret. */
export function describeGrpcSecurity(
  security: GrpcSecurity,
  role: SecurityRole,
): { tls: 'off' | 'on' | 'mutual'; token: boolean; serverName?: string } {
  const tls =
    security.tls === null ? 'off' : (role === 'server' ? security.tls.ca !== undefined : security.tls.cert !== undefined) ? 'mutual' : 'on';
  return { tls, token: security.token !== null, ...(security.serverName !== undefined ? { serverName: security.serverName } : {}) };
}
