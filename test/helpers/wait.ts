import { vi } from 'vitest';

/**
 * Polls `predicate` until it holds, failing after `timeoutMs` with `what` in
 * the message. For process tests waiting on real processes and servers; unit
 * tests advance fake timers instead.
 */
export async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Under fake timers: runs every promise chain that waits on no timer (one
 * real macrotask), without moving the clock. What is still pending after it
 * is waiting for time or for an event that has not happened.
 */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

/**
 * Under fake timers: `promise`'s outcome once `ms` of fake time have passed,
 * failing at once (not at the test's timeout) if it is still pending then.
 */
export async function afterFakeTime<T>(ms: number, promise: Promise<T>): Promise<T> {
  let pending = true;
  const tracked = promise.finally(() => {
    pending = false;
  });
  tracked.catch(() => {}); // reported below, or by the throw when still pending
  await vi.advanceTimersByTimeAsync(ms);
  if (pending) throw new Error(`still pending after ${ms} ms of fake time`);
  return tracked;
}
