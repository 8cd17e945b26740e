/**
 * vitest globalSetup (vitest.config.ts): makes the directory the chaos
 * scenarios record into (test/helpers/chaos-ledger.ts) before the test
 * processes start, and at the end prints one line summing what they did:
 *
 *   chaos summary: 9 faults injected (8 scenarios), 640 bad inputs tried, 0 samples lost, ...
 *
 * The same totals go to test-results/chaos-summary.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { CHAOS_LEDGER_ENV, chaosSummaryLine, chaosTotals, readChaosRecords } from '../helpers/chaos-totals.js';

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-chaos-'));
  project.provide('chaosLedgerDir', dir);
  // Also for processes that read the environment (forks inherit it).
  process.env[CHAOS_LEDGER_ENV] = dir;
  return () => {
    const records = readChaosRecords(dir);
    const totals = chaosTotals(records);
    // A run without the chaos files (a subset) says so rather than report zeros.
    const line = records.length > 0 ? chaosSummaryLine(totals) : 'chaos summary: no chaos scenario ran';
    process.stdout.write(`\n${line}\n`);
    try {
      const out = join(project.config.root, 'test-results');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'chaos-summary.json'), `${JSON.stringify({ line, ...totals, records }, null, 2)}\n`);
    } catch (err) {
      process.stderr.write(`chaos summary: could not write test-results/chaos-summary.json: ${(err as Error).message}\n`);
    }
    rmSync(dir, { recursive: true, force: true });
    delete process.env[CHAOS_LEDGER_ENV];
  };
}
