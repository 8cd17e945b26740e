import type { FollowHandler, FollowOptions, Subscription } from './event-bus.js';

/**
 * What a process that only reads events (`fleet watch`) needs. Unlike an
 * EventBus it never creates the FLEET_EVENTS stream or changes its limits:
 * only publishers do (a watcher pointed at the wrong server must not leave a
 * 1 GiB, 7-day stream behind). So the stream may be absent, and every look-up
 * says so instead of failing.
 */
export interface EventReader {
  /** Whether the FLEET_EVENTS stream exists yet. */
  hasStream(): Promise<boolean>;
  /** The run of the newest run.started in the stream, or null (none yet, or no stream). */
  latestRun(): Promise<string | null>;
  /** How many events of `run` the stream holds (0 when there is no stream). */
  runEventCount(run: string): Promise<number>;
  /** Runs with events in the stream, the most recent first: the first `limit`, and how many there are. */
  knownRuns(limit: number): Promise<{ runs: string[]; total: number }>;
  /** As EventBus.follow; the stream must exist (check hasStream first). */
  follow(run: string, handler: FollowHandler, options: FollowOptions): Promise<Subscription>;
  /** Stops the subscriptions and closes the connection. */
  close(timeoutMs?: number): Promise<void>;
}
