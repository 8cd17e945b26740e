import { ConfigError } from '../../runtime/config/train-config.js';

/**
 * A TLS file that cannot be used: unreadable, not PEM, a key that does not
 * match its certificate, an expired certificate. A ConfigError, so the CLI
 * exits 2 naming the flag; `reason` says what is wrong with `path`.
 */
export class TlsFileError extends ConfigError {
  constructor(
    readonly flag: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super([{ key: flag.replace(/^--/, ''), flag, message: reason, value: path }]);
  }
}

/** A bad combination or value of the security flags (cert without key, an empty token...). */
export function securityFlagError(flag: string, value: unknown, message: string): ConfigError {
  return new ConfigError([{ key: flag.replace(/^--/, ''), flag, message, value }]);
}
