import { FleetError } from '../../src/runtime/errors.js';
import { formatDuration } from './watch-render.js';

/**
 * Before `fleet watch` follows anything: the run it should show must have
 * events on the server. A watcher may start before any run (or on the wrong
 * server, or with a typo in --run), so it waits, re-checking, and says what
 * it waits for (at once, then every `reportEveryMs` with the time waited),
 * instead of creating the stream or hanging silently.
 */

/** The look-ups this needs (an EventReader has them). */
export interface RunLocator {
  hasStream(): Promise<boolean>;
  latestRun(): Promise<string | null>;
  runEventCount(run: string): Promise<number>;
  knownRuns(limit: number): Promise<{ runs: string[]; total: number }>;
}

export interface WaitForRunOptions {
  locator: RunLocator;
  /** --run, or null for the latest run to start. */
  run: string | null;
  /** The server, as the user named it (--nats). */
  url: string;
  /** One line of news for the user (the CLI writes it to stderr). */
  say: (line: string) => void;
  /** Give up after this long (WatchWaitTimeoutError); 0 waits for ever. */
  timeoutMs: number;
  /** Re-check this often (default 1 s). */
  pollMs?: number;
  /** Say it again this often, with the time waited (default 15 s). */
  reportEveryMs?: number;
  signal?: AbortSignal;
  now?: () => number;
}

/** How many run ids a "waiting for run" line lists. */
export const KNOWN_RUNS_SHOWN = 10;

/** Nothing to follow appeared within --wait-timeout. */
export class WatchWaitTimeoutError extends FleetError {
  constructor(
    readonly waitedMs: number,
    readonly waitingFor: string,
  ) {
    super(`gave up after ${formatDuration(waitedMs)} (--wait-timeout): ${waitingFor}`);
  }
}

type Check = { ready: string } | { kind: 'stream' | 'run'; text: string };

/** The run to follow, once the server holds events of it; null when `signal` aborts first. */
export async function waitForRun(options: WaitForRunOptions): Promise<string | null> {
  const o = { pollMs: 1000, reportEveryMs: 15_000, now: Date.now, ...options };
  const started = o.now();
  let lastKind: string | null = null;
  let lastSaidMs = -Infinity;
  for (;;) {
    if (o.signal?.aborted) return null;
    const check = await lookUp(o.locator, o.run, o.url);
    if ('ready' in check) return check.ready;
    const now = o.now();
    const waited = now - started;
    if (check.kind !== lastKind || now - lastSaidMs >= o.reportEveryMs) {
      o.say(waited >= 1000 ? withWaited(check.text, waited) : check.text);
      lastKind = check.kind;
      lastSaidMs = now;
    }
    if (o.timeoutMs > 0 && waited >= o.timeoutMs) throw new WatchWaitTimeoutError(waited, check.text);
    const pause = o.timeoutMs > 0 ? Math.min(o.pollMs, Math.max(1, o.timeoutMs - waited)) : o.pollMs;
    await sleep(pause, o.signal);
  }
}

async function lookUp(locator: RunLocator, run: string | null, url: string): Promise<Check> {
  if (!(await locator.hasStream())) {
    return { kind: 'stream', text: `no FLEET_EVENTS stream on ${url} yet: waiting for a run to publish (started with --nats ${url})` };
  }
  if (run === null) {
    const latest = await locator.latestRun();
    if (latest !== null) return { ready: latest };
    return { kind: 'run', text: `no run has started on ${url} yet: waiting for one${await knownRunsText(locator)}` };
  }
  if ((await locator.runEventCount(run)) > 0) return { ready: run };
  return { kind: 'run', text: `waiting for run ${run}: no events yet on ${url}${await knownRunsText(locator)}` };
}

/** The runs the stream does hold, most recent first, so a typo in --run shows. */
async function knownRunsText(locator: RunLocator): Promise<string> {
  const { runs, total } = await locator.knownRuns(KNOWN_RUNS_SHOWN);
  if (total === 0) return '';
  if (total === 1) return `; the stream holds run ${runs.join('')}`;
  return `; the stream holds ${total} runs, newest first: ${runs.join(', ')}${total > runs.length ? ', ...' : ''}`;
}

/** The time waited goes before the list of runs, after what is waited for. */
function withWaited(text: string, waitedMs: number): string {
  const at = text.indexOf('; the stream holds');
  const suffix = ` (${formatDuration(waitedMs)} so far)`;
  return at < 0 ? `${text}${suffix}` : `${text.slice(0, at)}${suffix}${text.slice(at)}`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
