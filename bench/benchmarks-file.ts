/**
 * docs/benchmarks.json: what `npm run bench` measured, one section a
 * benchmark, each with its own machine, date and commit, so a run of a few
 * benchmarks (FLEET_BENCH_ONLY) replaces only theirs. Pure functions here;
 * run-all reads the machine and writes the file.
 */
import type { Figure } from './figures.js';

export const BENCHMARKS_FILE_VERSION = 1;

/** Where and under what the figures were measured. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  /** Backends fleet could use: "wasm", "onednn" when the addon is built. */
  backends: string[];
}

/** What one benchmark measured in one run. */
export interface BenchSection {
  bench: string;
  /** ISO time the benchmark started. */
  date: string;
  /** Short commit, "-dirty" when the tree had uncommitted changes. */
  commit: string;
  /** The command that measures this benchmark alone, with the knobs of this run. */
  command: string;
  machine: MachineInfo;
  /** 1-minute load average when the benchmark started and ended. */
  loadStart: number;
  loadEnd: number;
  wallSeconds: number;
  /** Set when the benchmark threw: what it said. Its figures are those it recorded before. */
  error?: string;
  /** A figure `npm run bench` does not measure (too long): carried from the run named in `command`. */
  separate?: boolean;
  figures: Figure[];
}

/** One invocation of run-all. */
export interface RunInfo {
  date: string;
  commit: string;
  command: string;
  /** FLEET_BENCH_ONLY's list, or null for every benchmark. */
  only: string[] | null;
  machine: MachineInfo;
  /** 1-, 5- and 15-minute load averages at the start and at the end. */
  loadStart: number[];
  loadEnd: number[];
  wallSeconds: number;
  /** Each benchmark's wall time in this run, in run order. */
  benches: { bench: string; wallSeconds: number }[];
}

export interface BenchmarksFile {
  version: number;
  /** The latest run, and the latest run of every benchmark (the sum of its sections is the time of a full run). */
  lastRun: RunInfo | null;
  lastFullRun: RunInfo | null;
  /** By benchmark name. */
  sections: Record<string, BenchSection>;
}

export function emptyBenchmarksFile(): BenchmarksFile {
  return { version: BENCHMARKS_FILE_VERSION, lastRun: null, lastFullRun: null, sections: {} };
}

/** Parses the file's text, checking the shape enough to refuse a file of something else. */
export function parseBenchmarksFile(text: string, source: string): BenchmarksFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  const file = raw as Partial<BenchmarksFile>;
  if (typeof raw !== 'object' || raw === null || file.version !== BENCHMARKS_FILE_VERSION || typeof file.sections !== 'object')
    throw new Error(`${source}: not a benchmarks file of version ${BENCHMARKS_FILE_VERSION} (version ${String(file.version)})`);
  return { version: file.version, lastRun: file.lastRun ?? null, lastFullRun: file.lastFullRun ?? null, sections: file.sections ?? {} };
}

/**
 * The file after a run: the run's sections replace those of the same
 * benchmarks, every other section stays as it was (a partial run does not
 * wipe the others' figures). A run of every benchmark is also the last full run.
 */
export function mergeRun(previous: BenchmarksFile, run: RunInfo, sections: readonly BenchSection[]): BenchmarksFile {
  const merged: Record<string, BenchSection> = { ...previous.sections };
  for (const s of sections) merged[s.bench] = s;
  return {
    version: BENCHMARKS_FILE_VERSION,
    lastRun: run,
    lastFullRun: run.only === null ? run : previous.lastFullRun,
    sections: merged,
  };
}
