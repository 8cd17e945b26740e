/**
 * Which events a board has applied: per source, the last sequence number.
 * An event at or below it is a redelivery or a replay (NATS after a
 * reconnect, a directory read again) and is dropped, so nothing counts twice.
 */
export class SeenEvents {
  private readonly lastSeq = new Map<string, number>();

  /** True (and remembered) the first time an event of this source and sequence, or a newer one, comes. */
  first(event: { source: string; seq: number }): boolean {
    const seen = this.lastSeq.get(event.source);
    if (seen !== undefined && event.seq <= seen) return false;
    this.lastSeq.set(event.source, event.seq);
    return true;
  }

  get any(): boolean {
    return this.lastSeq.size > 0;
  }
}
