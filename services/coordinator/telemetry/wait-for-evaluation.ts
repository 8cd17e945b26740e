import type { EventBus } from '../../../src/events/index.js';
import type { Logger } from '../../../src/runtime/logger.js';
import type { EvaluatorLiveness } from './evaluator-liveness.js';

/** How the wait ended: the score came, --evaluator-wait passed (or a stop cut it), or no evaluator is alive to score. */
export type EvaluationWait = 'scored' | 'timed-out' | 'evaluator-silent';

/**
 * Resolves once an eval event for `version` (or later) of `run` is on the bus,
 * or after `timeoutMs` with a warning: an evaluator that is down must not
 * keep a finished run from ending for ever. With `liveness`, it ends as soon
 * as no evaluator beat has been heard for `liveness.timeoutMs` (a dead
 * evaluator: counted from its last beat; one never heard: from the start of
 * this wait), so nothing is waited for long. When `stop.signal` aborts
 * (a stop signal), at most `stop.graceMs` more.
 */
export async function waitForEvaluation(
  bus: EventBus,
  run: string,
  version: number,
  timeoutMs: number,
  log: Logger,
  options: { stop?: { signal: AbortSignal; graceMs: number }; liveness?: { watch: EvaluatorLiveness; timeoutMs: number } } = {},
): Promise<EvaluationWait> {
  const { stop, liveness } = options;
  let done!: (how: EvaluationWait) => void;
  const ended = new Promise<EvaluationWait>((resolve) => {
    done = resolve;
  });
  const started = Date.now();
  let timer = setTimeout(() => done('timed-out'), timeoutMs);
  const shorten = () => {
    clearTimeout(timer);
    timer = setTimeout(() => done('timed-out'), Math.max(0, Math.min(stop!.graceMs, timeoutMs - (Date.now() - started))));
  };
  if (stop?.signal.aborted) shorten();
  else stop?.signal.addEventListener('abort', shorten, { once: true });
  const sub = await bus.follow(
    run,
    (e) => {
      if (e.type === 'eval' && (e.data as { version: number }).version >= version) done('scored');
    },
    { from: 'start' },
  );
  // A refused subscription hears nothing: then only --evaluator-wait ends the wait, as without liveness.
  const watching = liveness && liveness.watch.refused === null ? liveness : null;
  // An evaluator never heard gets the whole timeout from here: one started beside a short run on a loaded machine
  // (nice'd, as fleet train starts it) may beat first only after training is over, with every epoch end to score.
  const silentForMs = (w: NonNullable<typeof watching>) =>
    w.watch.lastSource === null ? Math.min(w.watch.silentForMs(), Date.now() - started) : w.watch.silentForMs();
  const check = () => {
    if (watching && watching.watch.refused === null && silentForMs(watching) >= watching.timeoutMs) done('evaluator-silent');
  };
  const checker = watching ? setInterval(check, Math.max(100, Math.min(1000, watching.timeoutMs / 4))) : null;
  log.info(
    { version, timeoutS: timeoutMs / 1000, ...(watching ? { heartbeatTimeoutS: watching.timeoutMs / 1000 } : {}) },
    'waiting for the evaluator to score the last checkpoint',
  );
  try {
    const how = await ended;
    // Called once the last round closed: the wait is the time from the end of training to the final score.
    if (how === 'scored') log.info({ version, afterTrainingMs: Date.now() - started }, 'the evaluator scored the last checkpoint');
    else if (how === 'evaluator-silent')
      log.warn(
        {
          version,
          silentS: Math.round(silentForMs(watching!) / 1000),
          lastEvaluator: watching!.watch.lastSource,
          heartbeatTimeoutS: watching!.timeoutMs / 1000,
        },
        watching!.watch.lastSource === null
          ? 'no evaluator liveness beat heard: no evaluator is running to score the last checkpoint'
          : 'the evaluator stopped beating (dead or hung): it will not score the last checkpoint',
      );
    else log.warn({ version }, 'the evaluator did not score the last checkpoint in time: finishing without it');
    return how;
  } finally {
    clearTimeout(timer);
    if (checker) clearInterval(checker);
    stop?.signal.removeEventListener('abort', shorten);
    await sub.stop();
  }
}
