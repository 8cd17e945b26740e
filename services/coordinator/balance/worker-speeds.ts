/**
 * Each member's training speed (images per second of its own training time,
 * as its contributions report it), for --balance speed: a synchronous round
 * waits for its slowest member, so the next round gives each member a shard
 * in proportion to its speed and all finish together.
 *
 * Smoothed over the last few rounds (the newest weighs 0.3): on shared
 * machines a member's speed moves in phases of several rounds (a busy
 * neighbour on its core), which the shares should follow, while a single
 * round is +-10% noise they should not chase (0.6 made them flip-flop).
 */
export class WorkerSpeeds {
  private readonly speeds = new Map<string, number>();

  /**
   * @param smoothing weight of the newest measure (1 = the last round only)
   * @param maxRatio a share stays within [1/maxRatio, maxRatio] of the mean:
   *   one odd measure cannot starve a member or overload another
   */
  constructor(
    private readonly smoothing = 0.3,
    private readonly maxRatio = 2,
  ) {}

  /** A contribution of `samples` trained in `trainMs`; ignored when either is not positive (an old worker that does not report its time). */
  record(worker: string, samples: number, trainMs: number): void {
    if (!(samples > 0) || !(trainMs > 0)) return;
    const measured = samples / trainMs;
    const before = this.speeds.get(worker);
    this.speeds.set(worker, before === undefined ? measured : before + this.smoothing * (measured - before));
  }

  /** Forgets members no longer in `members`. */
  keepOnly(members: readonly string[]): void {
    const keep = new Set(members);
    for (const worker of this.speeds.keys()) if (!keep.has(worker)) this.speeds.delete(worker);
  }

  /**
   * One share per member, relative to the mean speed; a member not measured
   * yet (just joined) counts as the mean. Undefined until some member has
   * been measured: the round is then cut equally.
   */
  shares(members: readonly string[]): number[] | undefined {
    const known = members.map((m) => this.speeds.get(m)).filter((s): s is number => s !== undefined);
    if (known.length === 0) return undefined;
    const mean = known.reduce((a, b) => a + b, 0) / known.length;
    return members.map((m) => Math.min(this.maxRatio, Math.max(1 / this.maxRatio, (this.speeds.get(m) ?? mean) / mean)));
  }
}
