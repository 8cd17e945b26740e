/**
 * Where a benchmark ran and at which commit, for docs/benchmarks.json.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { loadOnednn, onednnLoadError } from '../src/compute/onednn/addon.js';
import type { MachineInfo } from './benchmarks-file.js';
import { gitSha } from './git-sha.js';

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // Not Linux: os.cpus() names the model too.
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

export function machineInfo(): MachineInfo {
  const backends = ['wasm'];
  if (loadOnednn()) backends.push('onednn');
  return {
    cpu: cpuModel(),
    cores: cpus().length,
    memoryGb: Math.round((totalmem() / 1e9) * 10) / 10,
    node: process.version,
    backends,
  };
}

/** Why oneDNN is not among the backends, or null. */
export function onednnMissing(): string | null {
  return loadOnednn() ? null : onednnLoadError();
}

/** The short commit, with "-dirty" when tracked files have uncommitted changes. */
export function commitOfTree(): string {
  const sha = gitSha();
  try {
    const changes = execSync('git status --porcelain --untracked-files=no', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    return changes ? `${sha}-dirty` : sha;
  } catch {
    return sha;
  }
}

export function load1(): number {
  return loadavg()[0] ?? 0;
}

/** Settings that say where the figures go, not what is measured: left out of the commands. */
const OUTPUT_ONLY = ['FLEET_BENCH_DOCS', 'FLEET_BENCH_NO_WRITE'];

/** The FLEET_* settings of this process, as a command prefix ("" when none). */
export function fleetEnvPrefix(skip: readonly string[] = []): string {
  return Object.entries(process.env)
    .filter(([k, v]) => k.startsWith('FLEET_') && v !== undefined && !skip.includes(k) && !OUTPUT_ONLY.includes(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v} `)
    .join('');
}
