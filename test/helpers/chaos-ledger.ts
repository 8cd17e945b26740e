/**
 * What the chaos scenarios did, for the one summary line `npm test` prints.
 *
 *   recordChaos({ scenario: 'worker SIGSTOP', faultsInjected: 1, samplesLost: ledger.lost });
 *
 * Each call appends one JSON line to a file of its own process in a directory
 * shared by every vitest worker of the run: test/chaos/summary-setup.ts (a
 * globalSetup) makes it before the forks start and hands it over with
 * vitest's provide/inject (and the FLEET_CHAOS_LEDGER_DIR variable); its
 * teardown reads all the lines and prints the summary (chaos-totals.ts).
 * Outside such a run the lines go to a directory under the system temp dir
 * keyed by the parent process, which nothing summarises.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { CHAOS_LEDGER_ENV, type ChaosRecord } from './chaos-totals.js';

export type { ChaosRecord } from './chaos-totals.js';

declare module 'vitest' {
  export interface ProvidedContext {
    chaosLedgerDir: string;
  }
}

/** The shared directory of this run (made if absent). */
export function chaosLedgerDir(): string {
  let dir: string | undefined;
  try {
    dir = inject('chaosLedgerDir');
  } catch {
    // Not inside a vitest worker with provided context.
  }
  dir ??= process.env[CHAOS_LEDGER_ENV];
  dir ??= join(tmpdir(), `fleet-chaos-${process.ppid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Appends one record (synchronously: a test that fails right after still has it counted). */
export function recordChaos(record: ChaosRecord): void {
  const line = JSON.stringify({ ...record, pid: process.pid, time: new Date().toISOString() });
  appendFileSync(join(chaosLedgerDir(), `chaos-${process.pid}.jsonl`), `${line}\n`);
}
