import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { bearerMatches, isValidTokenText } from './bearer-token.js';

/** How long the previous token stays accepted after a rotation (--token-rotation-window): 10 minutes. */
export const DEFAULT_TOKEN_ROTATION_WINDOW_MS = 10 * 60_000;

/**
 * How often the file is looked at. Polled (stat), not fs.watch: a mounted
 * Kubernetes Secret is replaced by swapping a symlink, which inotify on the
 * path does not report; a stat follows the link.
 */
const POLL_MS = 1000;

export interface TokenRotation {
  /** When the previous token stops being accepted (ms since the epoch). */
  previousUntil: number;
}

export interface TokenFileWatchOptions {
  /** Servers: how long the token before the last change stays accepted (default 10 min). */
  windowMs?: number;
  /** Each rotation seen (never the tokens themselves). */
  onRotated?: (rotation: TokenRotation) => void;
  /** A re-read that failed (unreadable, empty, not token text): the tokens held are kept. */
  onError?: (reason: string) => void;
  /** Keep watching the file; false: read only on reload() (clients re-read on a refusal). Default true. */
  watch?: boolean;
}

/**
 * The token of a --token-file, re-read when the file changes (or on
 * reload(): SIGHUP, a refused call), so a token can be rotated without a
 * restart. A server accepts the current token and, for `windowMs` after a
 * change, the one before it: clients pick up the new file at their own pace
 * during that window. A file that cannot be read, or holds no valid token,
 * changes nothing (an operator halfway through an edit must not lock the
 * run out). The watch does not keep the process alive.
 */
export class TokenFileWatch {
  private currentToken: string;
  private previous: { token: string; until: number } | null = null;
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
    this.currentToken = initial;
    if (options.watch ?? true) watchFile(path, { interval: POLL_MS, persistent: false }, this.listener);
  }

  get current(): string {
    return this.currentToken;
  }

  /** Whether an `authorization` value carries the current token, or the previous one within its window. */
  accepts(value: string | undefined): boolean {
    // Both compared every time (constant time each): which one matched does not show in the timing.
    const current = bearerMatches(this.currentToken, value);
    const prev = this.previous !== null && this.now() < this.previous.until && bearerMatches(this.previous.token, value);
    return current || prev;
  }

  /** Reads the file now; true when it held a new valid token (now the current one). */
  reload(): boolean {
    if (this.closed) return false;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8').trim();
    } catch (err) {
      this.options.onError?.(`cannot read ${this.path} (${(err as Error).message})`);
      return false;
    }
    if (text === this.currentToken) return false;
    if (text.length === 0 || !isValidTokenText(text)) {
      this.options.onError?.(`${this.path} holds no valid token (empty, or not visible ASCII without spaces): the tokens held are kept`);
      return false;
    }
    const until = this.now() + (this.options.windowMs ?? DEFAULT_TOKEN_ROTATION_WINDOW_MS);
    this.previous = { token: this.currentToken, until };
    this.currentToken = text;
    this.options.onRotated?.({ previousUntil: until });
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    unwatchFile(this.path, this.listener);
  }
}
