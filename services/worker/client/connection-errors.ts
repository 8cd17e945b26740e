import { status as Status } from '@grpc/grpc-js';
import { classify, isUnavailable } from '../../../src/rpc/classify.js';
import { CoordinatorRefusal } from '../../../src/rpc/coordinator-refusals.js';
import { explainTokenRefusal } from '../../../src/rpc/security/index.js';
import { FlagError } from '../../../src/runtime/config/flag-error.js';
import { formatDuration } from '../../../src/runtime/config/value-parsers.js';
import { FleetError } from '../../../src/runtime/errors.js';

/** The coordinator stayed unreachable for the whole --connect-timeout: the run failed (exit 1). */
export class CoordinatorUnreachableError extends FleetError {
  constructor(
    readonly address: string,
    readonly waitedMs: number,
    readonly lastError: string,
    options?: { cause?: unknown },
  ) {
    super(
      `--coordinator ${address} unreachable for ${formatDuration(waitedMs)} (${lastError}); is the coordinator running there? (--connect-timeout sets how long to wait)`,
      options,
    );
  }
}

/**
 * grpc-js's text of a failed connection without its wrapping:
 * "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: "
 * becomes "UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:1".
 */
export function connectionFailureText(err: unknown): string {
  const failure = classify(err);
  const details = String((err as { details?: unknown }).details ?? (err as Error).message ?? err);
  const last = /Last error: (?:\w*Error(?: \[\w+\])?: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(details)?.[1];
  const text = (last ?? details).trim();
  return failure ? `${Status[failure.code]}: ${text}` : text;
}

/**
 * A worker's failure as the user should read it: a coordinator that never
 * answered, a coordinator of another run (--run-id), a refused token; other
 * errors as they are.
 */
export function explainWorkerFailure(err: unknown, o: { coordinator: string; runId: string; connectTimeoutMs: number }): unknown {
  const failure = classify(err);
  if (failure?.errorClass === CoordinatorRefusal.RunMismatch) {
    // The refusal's text is "this coordinator runs A, not B".
    const details = String((err as { details?: unknown }).details ?? '');
    const theirs = /runs (\S+), not/.exec(details)?.[1] ?? 'another run';
    return new FlagError(
      '--run-id',
      o.runId,
      `--run-id ${o.runId}: the coordinator at ${o.coordinator} runs ${theirs}; start the worker with --run-id ${theirs}, or point --coordinator at the coordinator of ${o.runId}`,
      { cause: err },
    );
  }
  if (isUnavailable(err))
    return new CoordinatorUnreachableError(o.coordinator, o.connectTimeoutMs, connectionFailureText(err), { cause: err });
  return explainTokenRefusal(err, o.coordinator);
}
