import { ConfigError } from './config-error.js';

/**
 * A flag refused with a sentence of its own (`--out runs/x already holds a
 * run...`, `--port 7070: address in use...`) rather than the generic
 * "invalid configuration" list: still bad usage, exit 2, nothing written.
 */
export class FlagError extends ConfigError {
  constructor(
    readonly flag: string,
    value: unknown,
    sentence: string,
    options?: { cause?: unknown },
  ) {
    super([{ key: flag.replace(/^--/, ''), flag, message: sentence, value }]);
    this.message = sentence;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
