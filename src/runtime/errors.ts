/**
 * Base class of every error fleet raises on purpose. Subclasses carry typed
 * fields naming what was wrong (file, record, tensor, flag...) so callers and
 * logs can act on them without parsing messages.
 */
export class FleetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
