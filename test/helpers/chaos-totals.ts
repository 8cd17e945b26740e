/**
 * The chaos suite's records and their summary line (no vitest import: the
 * globalSetup that prints the line reads this too). Records are written by
 * recordChaos (chaos-ledger.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The variable naming the shared directory of one test run. */
export const CHAOS_LEDGER_ENV = 'FLEET_CHAOS_LEDGER_DIR';

export interface ChaosRecord {
  /** What ran, e.g. 'worker SIGSTOP then SIGCONT'. */
  scenario: string;
  /** Faults done to real processes: kill -9, SIGSTOP, a crash mid-write, a server stopped. */
  faultsInjected?: number;
  /** Inputs sent that must be refused: bad messages, fuzz cases, corrupt files, bad flags, malformed events. */
  badInputsTried?: number;
  /** Training samples never applied in an epoch, from the coordinator's ledger (applied-epoch-N.json missingCount). */
  samplesLost?: number;
  /** Training samples applied more than once in an epoch (the ledger's repeatedCount). */
  samplesRepeated?: number;
  /** Calls made without valid credentials (token, TLS client certificate)... */
  unauthenticatedTried?: number;
  /** ...and how many of them the server accepted (must be 0). */
  unauthenticatedAccepted?: number;
}

export interface ChaosTotals {
  scenarios: number;
  faultsInjected: number;
  badInputsTried: number;
  samplesLost: number;
  samplesRepeated: number;
  unauthenticatedTried: number;
  unauthenticatedAccepted: number;
}

/** Every record in `dir` (unreadable lines are skipped: a record is never worth failing the summary over). */
export function readChaosRecords(dir: string): ChaosRecord[] {
  const records: ChaosRecord[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.jsonl'))
      .sort();
  } catch {
    return records;
  }
  for (const name of names) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        records.push(JSON.parse(line) as ChaosRecord);
      } catch {
        // a torn last line of a killed process
      }
    }
  }
  return records;
}

export function chaosTotals(records: readonly ChaosRecord[]): ChaosTotals {
  const sum = (f: (r: ChaosRecord) => number | undefined) => records.reduce((n, r) => n + (f(r) ?? 0), 0);
  return {
    scenarios: new Set(records.map((r) => r.scenario)).size,
    faultsInjected: sum((r) => r.faultsInjected),
    badInputsTried: sum((r) => r.badInputsTried),
    samplesLost: sum((r) => r.samplesLost),
    samplesRepeated: sum((r) => r.samplesRepeated),
    unauthenticatedTried: sum((r) => r.unauthenticatedTried),
    unauthenticatedAccepted: sum((r) => r.unauthenticatedAccepted),
  };
}

/** The summary line, e.g. `chaos summary: 9 faults injected (7 scenarios), 412 bad inputs tried, 0 samples lost, ...`. */
export function chaosSummaryLine(t: ChaosTotals): string {
  return (
    `chaos summary: ${t.faultsInjected} faults injected (${t.scenarios} scenarios), ${t.badInputsTried} bad inputs tried, ` +
    `${t.samplesLost} samples lost, ${t.samplesRepeated} applied twice, ` +
    `${t.unauthenticatedAccepted} unauthenticated calls accepted (of ${t.unauthenticatedTried} tried)`
  );
}
