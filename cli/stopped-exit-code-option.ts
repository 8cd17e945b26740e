import { InvalidArgumentError, type Option } from 'commander';
import { DEFAULT_STOPPED_EXIT_CODE } from '../src/runtime/stopped-exit.js';
import { opt } from './option.js';
import { parseInteger } from './parse-flag.js';

/** An exit status a process can have: a whole number from 0 to 255. */
export function parseExitCode(value: string): number {
  const n = parseInteger(value);
  if (n < 0 || n > 255) throw new InvalidArgumentError(`'${value}' is not an exit code (0 to 255).`);
  return n;
}

/**
 * --stopped-exit-code on fleet coordinator, worker and evaluator. Kubernetes
 * Jobs count a deleted or preempted pod that exited 0 as a completion, so
 * the manifests set 143 and their podFailurePolicy replaces such a pod.
 */
export function stoppedExitCodeOpt(): Option {
  return opt(
    '--stopped-exit-code <n>',
    'exit code when a stop signal (SIGTERM, SIGINT) ends this process before its run is finished (the run goes on, or resumes later); a finished run always exits 0. Kubernetes Jobs: 143, with a podFailurePolicy rule that ignores it (deploy/README.md)',
    'FLEET_STOPPED_EXIT_CODE',
  )
    .argParser(parseExitCode)
    .default(DEFAULT_STOPPED_EXIT_CODE);
}
