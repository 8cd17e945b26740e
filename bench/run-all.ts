/**
 * `npm run bench`: every benchmark in turn, each printing its own figures
 * and recording them (figures.ts). At the end the figures go to
 * docs/benchmarks.json and docs/benchmarks.md is rendered from it.
 * FLEET_BENCH_ONLY=step-profile,... runs a subset: only those benchmarks'
 * sections are replaced, the others are kept. FLEET_BENCH_NO_WRITE=1 prints
 * only; `--render` only renders the page again from the JSON; FLEET_BENCH_DOCS
 * writes both files into another folder.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { run as kernelFilterGrad } from './kernel-filter-grad.js';
import { run as stepProfile } from './step-profile.js';
import { run as distributedThroughput } from './distributed-throughput.js';
import { run as exchangeRound } from './exchange-round.js';
import { run as exchangeTransport } from './exchange-transport.js';
import { run as vectorKernels } from './vector-kernels.js';
import { run as backendCompare } from './backend-compare.js';
import { run as scaleNull } from './scale-null.js';
import { run as compressRounding } from './compress-rounding.js';
import { run as shards } from './shards.js';
import { run as wireAbuse } from './wire-abuse.js';
import { run as garbageWorker } from './garbage-worker.js';
import { benchCommand, takeFigures } from './figures.js';
import { commitOfTree, fleetEnvPrefix, load1, machineInfo, onednnMissing } from './bench-machine.js';
import { emptyBenchmarksFile, mergeRun, parseBenchmarksFile, type BenchSection, type BenchmarksFile } from './benchmarks-file.js';
import { renderBenchmarks } from './render-benchmarks.js';
import { BENCH_CATALOG } from './bench-catalog.js';

// One line a benchmark (what each measures: bench-catalog.ts).
const BENCHES: Record<string, () => Promise<void>> = {
  'step-profile': stepProfile,
  'backend-compare': backendCompare,
  'kernel-filter-grad': kernelFilterGrad,
  'distributed-throughput': distributedThroughput,
  'vector-kernels': vectorKernels,
  'exchange-round': exchangeRound,
  'exchange-transport': exchangeTransport,
  'scale-null': scaleNull,
  'compress-rounding': compressRounding,
  shards,
  'wire-abuse': wireAbuse,
  'garbage-worker': garbageWorker,
};

// FLEET_BENCH_DOCS: another folder for the two files (the test of a partial run writes into a temporary one).
const DOCS = process.env.FLEET_BENCH_DOCS
  ? `${process.env.FLEET_BENCH_DOCS.replace(/\/$/, '')}/`
  : fileURLToPath(new URL('../../docs/', import.meta.url));
const JSON_PATH = `${DOCS}benchmarks.json`;
const MD_PATH = `${DOCS}benchmarks.md`;

// `node dist/bench/run-all.js --render`: docs/benchmarks.md again from docs/benchmarks.json, nothing measured.
if (process.argv.includes('--render')) {
  const file = parseBenchmarksFile(await readFile(JSON_PATH, 'utf8'), JSON_PATH);
  await writeFile(MD_PATH, renderBenchmarks(file, BENCH_CATALOG));
  console.log(`rendered ${MD_PATH} from ${JSON_PATH}`);
  process.exit(0);
}

const only = process.env.FLEET_BENCH_ONLY?.split(',').filter(Boolean) ?? null;
for (const name of only ?? [])
  if (!BENCHES[name]) throw new Error(`FLEET_BENCH_ONLY: unknown benchmark '${name}' (${Object.keys(BENCHES).join(', ')})`);

const started = new Date();
const commit = commitOfTree();
const machine = machineInfo();
const loadStart = loadavg();
console.log(
  `fleet benchmarks, git ${commit}, node ${process.version}, ${started.toISOString()}, ${machine.cpu} x ${machine.cores}, backends ${machine.backends.join(', ')}, load ${loadStart.map((l) => l.toFixed(2)).join(' ')}`,
);
const missing = onednnMissing();
if (missing) console.log(`oneDNN rows are skipped: ${missing}`);

const sections: BenchSection[] = [];
const benchTimes: { bench: string; wallSeconds: number }[] = [];
let failed = false;
for (const [name, run] of Object.entries(BENCHES)) {
  if (only && !only.includes(name)) continue;
  console.log(`\n=== ${name} ===`);
  const date = new Date().toISOString();
  const startLoad = load1();
  const t0 = performance.now();
  let error: string | undefined;
  try {
    await run();
  } catch (err) {
    // One benchmark failing (a missing tool, a busy port) keeps the others' figures; the section says why.
    failed = true;
    error = err instanceof Error ? err.message.split('\n')[0] : String(err);
    console.error(`${name} failed:`, err);
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  benchTimes.push({ bench: name, wallSeconds });
  console.log(`=== ${name}: ${wallSeconds.toFixed(0)} s ===`);
  sections.push({
    bench: name,
    date,
    commit,
    command: benchCommand(name),
    machine,
    loadStart: startLoad,
    loadEnd: load1(),
    wallSeconds,
    ...(error ? { error } : {}),
    figures: takeFigures(),
  });
}

const total = (Date.now() - started.getTime()) / 1000;
console.log(`\nall benchmarks: ${total.toFixed(0)} s; ${benchTimes.map((b) => `${b.bench} ${b.wallSeconds.toFixed(0)} s`).join(', ')}`);

if (process.env.FLEET_BENCH_NO_WRITE === '1') {
  console.log('FLEET_BENCH_NO_WRITE=1: docs/benchmarks.json and .md left as they were');
} else {
  const previous: BenchmarksFile = existsSync(JSON_PATH)
    ? parseBenchmarksFile(await readFile(JSON_PATH, 'utf8'), JSON_PATH)
    : emptyBenchmarksFile();
  const file = mergeRun(
    previous,
    {
      date: started.toISOString(),
      commit,
      command: `${fleetEnvPrefix()}npm run bench`,
      only,
      machine,
      loadStart,
      loadEnd: loadavg(),
      wallSeconds: total,
      benches: benchTimes,
    },
    sections,
  );
  // Written whole, then renamed: an interrupted write leaves the previous file.
  await writeFile(`${JSON_PATH}.tmp`, `${JSON.stringify(file, null, 2)}\n`);
  await rename(`${JSON_PATH}.tmp`, JSON_PATH);
  await writeFile(`${MD_PATH}.tmp`, renderBenchmarks(file, BENCH_CATALOG));
  await rename(`${MD_PATH}.tmp`, MD_PATH);
  console.log(`wrote ${JSON_PATH} and ${MD_PATH} (${sections.length} section(s) from this run)`);
}
if (failed) process.exitCode = 1;
