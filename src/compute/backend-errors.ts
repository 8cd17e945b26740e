import type { BackendChoice } from '../runtime/config/machine-config.js';
import { FleetError } from '../runtime/errors.js';

export type { BackendChoice };

/** The requested compute backend cannot be used on this machine. */
export class BackendUnavailableError extends FleetError {
  constructor(
    readonly choice: BackendChoice,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`compute backend '${choice}' is unavailable: ${reason}`, options);
  }
}
