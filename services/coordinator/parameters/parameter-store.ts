import { VersionUnavailableError } from '../rounds/errors.js';

/** A reader's hold on one version's values; `release` when done (idempotent). */
export interface ParameterLease {
  version: number;
  values: Float32Array;
  release: () => void;
}

export interface ParameterStoreOptions {
  /** The master parameters (taken over, updated in place unless a reader holds them). */
  params: Float32Array;
  /** The optimizer's momentum, one float per parameter; saved beside them. */
  momentum: Float32Array;
  /** The master's version; default 1. */
  version?: number;
  /** Checkpoint versions kept readable after the master moves on (for the evaluator); default 2. */
  retainVersions?: number;
}

/**
 * The master parameters and their version, the versions kept for readers
 * (retained checkpoint copies), and leases: a fetch streaming the current
 * version holds a lease, and an update while one is held writes a copy, so
 * the reader never sees a half-updated master.
 */
export class ParameterStore {
  private params: Float32Array;
  readonly momentum: Float32Array;
  private currentVersion: number;
  private readers = 0;
  /** Copies of recent checkpoint versions, oldest first. */
  private readonly retained: { version: number; values: Float32Array }[] = [];
  private readonly retainLimit: number;

  constructor(o: ParameterStoreOptions) {
    this.params = o.params;
    this.momentum = o.momentum;
    this.currentVersion = o.version ?? 1;
    this.retainLimit = o.retainVersions ?? 2;
  }

  get version(): number {
    return this.currentVersion;
  }

  /** The current values, for a checkpoint taken between rounds (not to be kept across an update). */
  get values(): Float32Array {
    return this.params;
  }

  /**
   * The values of `version` (0 = current) for a reader that streams them
   * out; call `release` when done. Throws VersionUnavailableError for a
   * version neither current nor retained.
   */
  acquire(version: number): ParameterLease {
    if (version !== 0 && version !== this.currentVersion) {
      const kept = this.retained.find((r) => r.version === version);
      if (!kept) throw new VersionUnavailableError(version, this.currentVersion, this.retainedVersions());
      // Retained copies never change: nothing to count.
      return { version, values: kept.values, release: () => {} };
    }
    this.readers++;
    let released = false;
    return {
      version: this.currentVersion,
      values: this.params,
      release: () => {
        if (!released) {
          released = true;
          this.readers--;
        }
      },
    };
  }

  /**
   * Writes the next version: `write` gets the master (a fresh copy when a
   * reader holds the current one) and the momentum, and changes them in place.
   */
  update(write: (params: Float32Array, momentum: Float32Array) => void): number {
    if (this.readers > 0) this.params = this.params.slice();
    write(this.params, this.momentum);
    return ++this.currentVersion;
  }

  /** Older versions still readable, oldest first. */
  retainedVersions(): number[] {
    return this.retained.map((r) => r.version);
  }

  /**
   * Keeps a copy of the current version readable after the master moves on
   * (called at checkpoints, so the evaluator can fetch every checkpoint it
   * is told of). Beyond the limit the oldest copy goes, and its memory is reused.
   */
  retainCurrent(): void {
    if (this.retainLimit <= 0 || this.retained.some((r) => r.version === this.currentVersion)) return;
    const reuse = this.retained.length >= this.retainLimit ? this.retained.shift()!.values : null;
    const values = reuse ?? new Float32Array(this.params.length);
    values.set(this.params);
    this.retained.push({ version: this.currentVersion, values });
  }
}
