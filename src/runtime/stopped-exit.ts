import type { Logger } from './logger.js';

/**
 * How a service process's part in a run ended: the run is finished, or a stop
 * signal (SIGTERM, SIGINT) ended this process first, and the run goes on
 * without it or a restarted coordinator resumes it.
 */
export type ServiceEnd = 'finished' | 'stopped';

/** --stopped-exit-code's default: a stop is not a failure (a terminal, compose, systemd). */
export const DEFAULT_STOPPED_EXIT_CODE = 0;

/**
 * The exit code of `fleet coordinator`, `fleet worker` or `fleet evaluator`:
 * 0 when the run is finished, whatever --stopped-exit-code says (a Job must
 * complete then), and `stoppedExitCode` when a signal stopped the process
 * before the end (a Job's podFailurePolicy can then replace the pod instead
 * of counting it as a completion).
 */
export function serviceExitCode(end: ServiceEnd, stoppedExitCode: number): number {
  return end === 'stopped' ? stoppedExitCode : 0;
}

/**
 * Ends a command with `exitCode` and nothing on stderr (the service has
 * logged why): main() returns it. Thrown because a commander action's
 * result never reaches main().
 */
export class ExitWith extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitWith';
  }
}

/** The last step of a service command: exit 0 as usual, or throw ExitWith for a stop with a non-zero --stopped-exit-code. */
export function exitAfter(end: ServiceEnd, stoppedExitCode: number, log: Logger): void {
  const code = serviceExitCode(end, stoppedExitCode);
  if (code === 0) return;
  log.info({ exitCode: code }, 'stopped before the run finished: exit code from --stopped-exit-code');
  throw new ExitWith(code);
}
