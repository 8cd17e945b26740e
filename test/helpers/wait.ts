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
