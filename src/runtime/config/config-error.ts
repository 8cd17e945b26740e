import { FleetError } from '../errors.js';

/** One refused setting: the schema key, where the value came from as the user wrote it, why, and the value. */
export interface ConfigProblem {
  key: string;
  /** The flag, `FLEET_X (--flag)` or `file: key (--flag)`: what the user typed. */
  flag: string;
  message: string;
  value: unknown;
}

/** Bad usage or configuration: the command exits 2 before anything is written. */
export class ConfigError extends FleetError {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.flag} ${JSON.stringify(p.value)}: ${p.message}`).join('; ')}`);
  }
}

/** A config file that cannot be read, is not a mapping, or holds a key no flag has. */
export class ConfigFileError extends ConfigError {
  constructor(
    readonly file: string,
    key: string,
    message: string,
    value: unknown,
  ) {
    super([{ key, flag: key ? `${file}: ${key}` : file, message, value }]);
  }
}
