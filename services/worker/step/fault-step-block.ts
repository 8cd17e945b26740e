/**
 * TEST-ONLY fault injection, not a user setting (and not in docs/cli.md):
 * with FLEET_FAULT_STEP_BLOCK_MS=n in its environment, a worker holds its
 * main thread for n ms before each round's training, as a long GPU or CPU
 * step does (the kernels run synchronously). The chaos suite uses it to show
 * that heartbeats (their own thread) go on meanwhile.
 */
export const FAULT_STEP_BLOCK_ENV = 'FLEET_FAULT_STEP_BLOCK_MS';

const blockMs = Number(process.env[FAULT_STEP_BLOCK_ENV] ?? 0);
const cell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread (no event loop, no timers) for the configured time; nothing when unset. */
export function faultStepBlock(): void {
  if (blockMs > 0) Atomics.wait(cell, 0, 0, blockMs);
}
