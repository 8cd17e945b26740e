import type { EventBus } from '../../../src/events/index.js';
import type { Logger } from '../../../src/runtime/logger.js';

/**
 * Resolves once an eval event for `version` (or later) of `run` is on the bus,
 * or after `timeoutMs` with a warning: an evaluator that is down must not
 * keep a finished run from ending for ever. When `stop.signal` aborts (a
 * stop signal), at most `stop.graceMs` more.
 */
export async function waitForEvaluation(
  bus: EventBus,
  run: string,
  version: number,
  timeoutMs: number,
  log: Logger,
  stop?: { signal: AbortSignal; graceMs: number },
): Promise<boolean> {
  let done!: (seen: boolean) => void;
  const seen = new Promise<boolean>((resolve) => {
    done = resolve;
  });
  const started = Date.now();
  let timer = setTimeout(() => done(false), timeoutMs);
  const shorten = () => {
    clearTimeout(timer);
    timer = setTimeout(() => done(false), Math.max(0, Math.min(stop!.graceMs, timeoutMs - (Date.now() - started))));
  };
  if (stop?.signal.aborted) shorten();
  else stop?.signal.addEventListener('abort', shorten, { once: true });
  const sub = await bus.follow(
    run,
    (e) => {
      if (e.type === 'eval' && (e.data as { version: number }).version >= version) done(true);
    },
    { from: 'start' },
  );
  log.info({ version, timeoutS: timeoutMs / 1000 }, 'waiting for the evaluator to score the last checkpoint');
  try {
    const ok = await seen;
    // Called once the last round closed: the wait is the time from the end of training to the final score.
    if (ok) log.info({ version, afterTrainingMs: Date.now() - started }, 'the evaluator scored the last checkpoint');
    else log.warn({ version }, 'the evaluator did not score the last checkpoint in time: finishing without it');
    return ok;
  } finally {
    clearTimeout(timer);
    stop?.signal.removeEventListener('abort', shorten);
    await sub.stop();
  }
}
