/**
 * The scale-null bench (bench/scale-null.ts) at a small size, as npm run
 * bench would run it: a real `fleet coordinator` and 4 null workers in 2
 * processes (bench/null-workers.ts, fleet's gRPC client, ResNet-20's 0.27 M
 * floats, no compute), 2 measured rounds after 1 warm-up, on loopback and,
 * where network namespaces can be made, in the multi-host test bed with the
 * coordinator's cable at 1 Gbit (after a 20 MB raw TCP probe through it). Checks that the rounds complete with every
 * worker's contribution (the bench refuses a row otherwise) and the table's
 * fields, and that at least the star model's bytes crossed the
 * coordinator's cable; no timing is asserted.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCALE_COLUMNS } from '../../bench/scale-null.js';
import { starRoundBytes, starRoundSeconds } from '../../bench/scale-models.js';
import { hostsSupport } from '../helpers/net-hosts.js';

const BENCH = fileURLToPath(new URL('../../dist/bench/scale-null.js', import.meta.url));
const WORKERS = 4;

function runBench(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('bench scale-null at a small size', () => {
  it('4 null workers against a real coordinator: every round completes, the table has its fields and the link carried the star bytes', async () => {
    const { code, out } = await runBench({
      FLEET_BENCH_MODELS: 'resnet',
      FLEET_BENCH_WORKERS: String(WORKERS),
      FLEET_BENCH_ROUNDS: '2',
      FLEET_BENCH_WARMUP: '1',
      FLEET_BENCH_PROCESSES: '2',
      FLEET_BENCH_PLACES: 'loopback,hosts',
      FLEET_BENCH_RATES: '1gbit',
      FLEET_BENCH_TCP_MB: '20',
    });
    expect(code, out).toBe(0);
    const lines = out.split('\n');
    const header = lines.indexOf(SCALE_COLUMNS.join('\t'));
    expect(header, out).toBeGreaterThanOrEqual(0);
    const rows = lines
      .slice(header + 1)
      .filter((l) => l.split('\t').length === SCALE_COLUMNS.length)
      .map((l) => Object.fromEntries(l.split('\t').map((v, i) => [SCALE_COLUMNS[i], v])) as Record<(typeof SCALE_COLUMNS)[number], string>);
    expect(rows.map((r) => r.place)).toEqual(hostsSupport.ok ? ['loopback', 'hosts'] : ['loopback']);
    if (!hostsSupport.ok) expect(out).toContain(`hosts: skipped: ${hostsSupport.reason}`);

    for (const r of rows) {
      expect(r.model).toBe('resnet');
      expect(Number(r.workers)).toBe(WORKERS);
      expect(Number(r.processes)).toBe(2);
      // ResNet-20's set (0.27 M floats with BatchNorm statistics): 1.1 MB.
      expect(Number(r.MB)).toBeCloseTo(1.1, 1);
      const [mean, std] = r['round ms (mean +- std)'].split(' +- ').map(Number);
      expect(mean).toBeGreaterThan(0);
      expect(std).toBeGreaterThanOrEqual(0);
      expect(Number(r['coordinator GB/s'])).toBeGreaterThan(0);
      expect(Number(r['download ms'])).toBeGreaterThan(0);
      expect(Number(r['upload ms'])).toBeGreaterThan(0);
      expect(Number(r['coordinator CPU ms / round'])).toBeGreaterThanOrEqual(0);
      expect(Number(r['workers CPU ms / round'])).toBeGreaterThan(0);
    }
    const [loop, hosts] = rows;
    expect([loop!.link, loop!['star model ms'], loop!['ring model ms'], loop!['link MB / round']]).toEqual(['-', '-', '-', '-']);
    if (hosts) {
      expect(out).toMatch(/hosts at 1 Gbit: one raw TCP stream g0 -> coord moved \d+\.\d\d Gbit\/s \(20 MB\)/);
      expect(hosts.link).toBe('1 Gbit');
      const bytes = Number(hosts.MB) * 1e6;
      // The models' figures, from the printed size (rounded to 0.1 MB, so within 5%).
      expect(Number(hosts['star model ms'])).toBeCloseTo(starRoundSeconds(WORKERS, bytes, 1e9) * 1000, -1);
      expect(Number(hosts['ring model ms'])).toBeLessThan(Number(hosts['star model ms']));
      // Every round moved the parameters to each worker and each contribution back across the coordinator's cable.
      expect(Number(hosts['link MB / round']) * 1e6).toBeGreaterThanOrEqual(starRoundBytes(WORKERS, bytes) * 0.95);
    }
  });
});
