import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { bearerMatches, isValidTokenText } from './bearer-token.js';

/** How long a token dropped from the file stays accepted (--token-rotation-window): 10 minutes. */
export const DEFAULT_TOKEN_ROTATION_WINDOW_MS = 10 * 60_000;

/**
 * How often the file is looked at. Polled (stat), not fs.watch: a mounted
 * Kubernetes Secret is replaced by swapping a symlink, which inotify on the
 * path does not report; a stat follows the link.
 */
const POLL_MS = 1000;

/**
 * A client refused within this long of its file changing retries: the
 * server may not have read its own copy yet (a Secret reaches each pod at
 * its own time, within the kubelet's sync period, about a minute).
 */
export const CLIENT_ROTATION_GRACE_MS = 90_000;

/** The tokens of a token file: one per line, blank lines ignored; the first is the one a client sends. */
export function parseTokenFile(text: string): string[] | string {
  const tokens = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (tokens.length === 0) return 'the token is empty (a missing secret?)';
  if (!tokens.every(isValidTokenText)) return 'a token is visible ASCII without spaces (it travels as an HTTP/2 header), one per line';
  return tokens;
}

export interface TokenRotation {
  /** How many tokens the file lists now (the first is sent by clients, all are accepted). */
  tokens: number;
  /** Tokens dropped from the file by this change, accepted until `retiredUntil`. */
  retired: number;
  retiredUntil: number;
}

export interface TokenFileWatchOptions {
  /** Servers: how long a token dropped from the file stays accepted (default 10 min). */
  windowMs?: number;
  /** Each change seen (never the tokens themselves). */
  onRotated?: (rotation: TokenRotation) => void;
  /** A re-read that failed (unreadable, empty, not token text): the tokens held are kept. */
  onError?: (reason: string) => void;
}

/**
 * The tokens of a --token-file, re-read when the file changes (and on
 * reload(): SIGHUP, a refused call), so tokens rotate without a restart.
 * The file lists one token per line: a server accepts every one listed,
 * and for `windowMs` each one just dropped; a client sends the first. A
 * file that cannot be read, or holds no valid token, changes nothing (an
 * operator halfway through an edit must not lock the run out). The watch
 * does not keep the process alive. Procedure: docs/security.md.
 */
export class TokenFileWatch {
  private listed: string[];
  private readonly retired = new Map<string, number>();
  private changedAtMs = Number.NEGATIVE_INFINITY;
  private closed = false;
  private readonly listener = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.ino !== prev.ino || curr.size !== prev.size) this.reload();
  };

  constructor(
    readonly path: string,
    initial: string,
    private readonly options: TokenFileWatchOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.listed = [initial];
    this.read(false);
    watchFile(path, { interval: POLL_MS, persistent: false }, this.listener);
  }

  /** The token a client sends: the file's first. */
  get current(): string {
    return this.listed[0]!;
  }

  /** Whether the file changed within `ms`. */
  changedWithin(ms: number): boolean {
    return this.now() - this.changedAtMs < ms;
  }

  /** Whether an `authorization` value carries a listed token, or one dropped within the window. */
  accepts(value: string | undefined): boolean {
    // Every candidate compared (constant time each): which one matched does not show in the timing.
    let ok = false;
    for (const token of this.listed) ok = bearerMatches(token, value) || ok;
    const now = this.now();
    for (const [token, until] of this.retired) {
      if (now >= until) this.retired.delete(token);
      else ok = bearerMatches(token, value) || ok;
    }
    return ok;
  }

  /** Reads the file now; true when its tokens changed. */
  reload(): boolean {
    return this.read(true);
  }

  private read(report: boolean): boolean {
    if (this.closed) return false;
    let parsed: string[] | string;
    try {
      parsed = parseTokenFile(readFileSync(this.path, 'utf8'));
    } catch (err) {
      if (report) this.options.onError?.(`cannot read ${this.path} (${(err as Error).message})`);
      return false;
    }
    if (typeof parsed === 'string') {
      if (report) this.options.onError?.(`${this.path}: ${parsed}; the tokens held are kept`);
      return false;
    }
    if (parsed.length === this.listed.length && parsed.every((t, i) => t === this.listed[i])) return false;
    const until = this.now() + (this.options.windowMs ?? DEFAULT_TOKEN_ROTATION_WINDOW_MS);
    const dropped = this.listed.filter((t) => !parsed.includes(t));
    for (const t of dropped) this.retired.set(t, until);
    for (const t of parsed) this.retired.delete(t);
    this.listed = parsed;
    if (!report) return true;
    this.changedAtMs = this.now();
    this.options.onRotated?.({ tokens: parsed.length, retired: dropped.length, retiredUntil: until });
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    unwatchFile(this.path, this.listener);
  }
}
