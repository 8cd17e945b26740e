import { randomBytes } from 'node:crypto';
import type { Logger } from '../../../src/runtime/logger.js';

export type MembershipChange =
  | { kind: 'joined'; worker: string; name: string; members: number }
  | { kind: 'left'; worker: string; reason: string; members: number };

export interface MembershipOptions {
  /** A member silent this long is evicted (--heartbeat-timeout). */
  heartbeatTimeoutMs: number;
  log: Logger;
  /**
   * The round silent members hold up, or null between rounds (no one is
   * evicted then); members that already contributed to it are excused.
   */
  openRound: () => { round: number; contributed: ReadonlySet<string> } | null;
  /** Every join, leave and eviction; must not throw. */
  onChange?: (change: MembershipChange) => void;
  /** After a sweep that evicted someone: the open round may now be complete. */
  onEvicted?: (workers: readonly string[]) => void;
}

interface Member {
  id: string;
  name: string;
  lastSeenMs: number;
}

/**
 * The coordinator's members: who joined, when each was last heard from, and
 * a timer that evicts the silent ones. Membership itself changes at any time;
 * the rounds decide when a change counts (a joiner waits for the next round).
 */
export class Membership {
  private readonly members = new Map<string, Member>();
  private nextNumber = 1;
  private readonly instanceTag = randomBytes(3).toString('hex');
  private timer: NodeJS.Timeout | null;

  constructor(private readonly o: MembershipOptions) {
    this.timer = setInterval(() => this.sweep(), Math.max(100, o.heartbeatTimeoutMs / 4));
    this.timer.unref();
  }

  get heartbeatTimeoutMs(): number {
    return this.o.heartbeatTimeoutMs;
  }

  get size(): number {
    return this.members.size;
  }

  has(worker: string): boolean {
    return this.members.has(worker);
  }

  /** Member ids in string order, which is the order of joining. */
  ids(): string[] {
    return [...this.members.keys()].sort();
  }

  join(name: string): string {
    // Fixed width, so string order (the sampler's member order) is the order of
    // joining; the instance tag keeps a restarted coordinator from handing out
    // an id a worker of the previous instance still uses.
    const id = `w${String(this.nextNumber++).padStart(6, '0')}-${this.instanceTag}`;
    this.members.set(id, { id, name, lastSeenMs: Date.now() });
    this.o.log.info({ worker: id, name, members: this.members.size }, 'worker registered');
    this.o.onChange?.({ kind: 'joined', worker: id, name, members: this.members.size });
    return id;
  }

  /** The name `worker` registered with (undefined when not a member). */
  nameOf(worker: string): string | undefined {
    return this.members.get(worker)?.name;
  }

  heartbeat(worker: string): boolean {
    const member = this.members.get(worker);
    if (member) member.lastSeenMs = Date.now();
    return member !== undefined;
  }

  /** Silence is measured from now: a member is not to blame for the coordinator's own pause between rounds. */
  excuseSilence(): void {
    const now = Date.now();
    for (const member of this.members.values()) member.lastSeenMs = now;
  }

  /** A member that said goodbye; false when it was not one. */
  leave(worker: string, reason: string): boolean {
    if (!this.members.delete(worker)) return false;
    this.o.log.info({ worker, reason }, 'worker left');
    this.o.onChange?.({ kind: 'left', worker, reason, members: this.members.size });
    return true;
  }

  /**
   * Removes a member the rounds gave up on; false when it was not one.
   * `summary` ends the log message, `reason` goes to the change.
   */
  evict(worker: string, e: { summary: string; reason: string; fields: Record<string, unknown> }): boolean {
    if (!this.members.delete(worker)) return false;
    this.o.log.warn({ worker, ...e.fields }, `worker evicted: ${e.summary}`);
    this.o.onChange?.({ kind: 'left', worker, reason: `evicted: ${e.reason}`, members: this.members.size });
    return true;
  }

  /** Evicts the open round's members silent longer than the heartbeat timeout; returns their ids. */
  sweep(): string[] {
    const open = this.o.openRound();
    if (!open) return [];
    const now = Date.now();
    const evicted: string[] = [];
    for (const member of [...this.members.values()]) {
      const silentMs = now - member.lastSeenMs;
      if (silentMs <= this.o.heartbeatTimeoutMs || open.contributed.has(member.id)) continue;
      this.evict(member.id, {
        summary: 'no heartbeat',
        reason: `no heartbeat for ${Math.round(silentMs / 1000)} s`,
        fields: { name: member.name, round: open.round, silentMs },
      });
      evicted.push(member.id);
    }
    if (evicted.length > 0) this.o.onEvicted?.(evicted);
    return evicted;
  }

  /** Stops the eviction timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
