/**
 * 2-worker training throughput against two independent single-process
 * trainings running at the same time, side by side in one run, on the real
 * data: the cnn at batch 64 per worker. The 2-worker variants
 * (FLEET_BENCH_VARIANTS, all by default): `equal`, the defaults (equal
 * shards, workers where the OS puts them, --single-threaded-gc auto, each
 * round's first batch made during its download); `equal-no-prefetch`, the
 * same with FLEET_PREFETCH=0 (the batch made after the download); `speed`
 * (--balance speed: shards in proportion to each worker's measured speed,
 * services/coordinator/balance); `speed-gc-off`, the same with V8's
 * parallel GC; `speed-pinned`, --balance speed with --pin-workers on.
 * Each variant's workers' rounds are split into compute, exchange (download
 * + upload) and waiting for the round to open, from their 'round
 * contributed' lines.
 * FLEET_BENCH_STEPS (24) steps per worker, FLEET_BENCH_DATA (../shared/cifar10),
 * FLEET_BENCH_BACKEND (onednn when the addon is built, fleet's oneDNN kernels
 * with one thread a process on 2 CPUs; else wasm), FLEET_BENCH_VARIANTS
 * (equal: the defaults; the others on request, 1-2 minutes each),
 * FLEET_BENCH_REPEATS (2): the reference and every variant that many times,
 * interleaved, with mean +- std at the end. The figures (figures.ts): each
 * variant's images/s against the reference, its ratio per repeat (goal >=
 * 0.95), and a worker's round split into compute, exchange and wait.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from './kernel-conv-shapes.js';
import { loadOnednn } from '../src/compute/onednn/addon.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';

const FLEET = fileURLToPath(new URL('../../cli/fleet.js', import.meta.url));

function fleet(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    // debug: the one-process trainer logs every step ('step done'), timed like the rounds.
    const child = spawn(process.execPath, [FLEET, ...args], {
      env: { ...process.env, FLEET_LOG_PRETTY: '0', LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

const jsonLines = (text: string, msg: string) =>
  text
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Images/s of a run from its log: samples trained between the first and the last step or round. */
function rateFromLog(stdout: string, msg: string, samplesOf: (line: Record<string, unknown>) => number): number {
  const lines = jsonLines(stdout, msg);
  if (lines.length < 2) throw new Error(`too few '${msg}' lines to time`);
  const first = lines[0]!;
  const last = lines[lines.length - 1]!;
  const samples = lines.slice(1).reduce((n, l) => n + samplesOf(l), 0);
  return (samples * 1000) / ((last.time as number) - (first.time as number));
}

/** A worker round's time, ms: training, transfers, waiting for the round to open, the whole round. */
interface RoundSplit {
  compute: number;
  exchange: number;
  wait: number;
  round: number;
  prefetch: number;
}

/** Each worker's rounds after its first (start-up), from the run's logs/worker-*.log. */
async function roundSplits(runDir: string): Promise<RoundSplit[]> {
  const logs = join(runDir, 'logs');
  const files = (await readdir(logs)).filter((f) => /^worker-\d+\.log$/.test(f));
  const out: RoundSplit[] = [];
  for (const f of files) {
    const rounds = jsonLines(await readFile(join(logs, f), 'utf8'), 'round contributed');
    for (const r of rounds.slice(1)) {
      out.push({
        compute: r.computeMs as number,
        exchange: r.exchangeMs as number,
        wait: r.waitMs as number,
        round: r.roundMs as number,
        prefetch: r.prefetchMs as number,
      });
    }
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const meanStd = (xs: number[], digits: number) =>
  xs.length > 1 ? `${mean(xs).toFixed(digits)} +- ${std(xs).toFixed(digits)} (n=${xs.length})` : `${mean(xs).toFixed(digits)} (n=1)`;

function describeSplit(splits: RoundSplit[]): string {
  if (splits.length === 0) return 'no round lines';
  const m = (k: keyof RoundSplit) => mean(splits.map((s) => s[k]));
  const round = m('round');
  const part = (k: keyof RoundSplit) => `${k} ${m(k).toFixed(0)} ms (${((100 * m(k)) / round).toFixed(1)}%)`;
  return `a worker's round ${round.toFixed(0)} ms: ${part('compute')}, ${part('exchange')}, ${part('wait')}; batch made during the download ${m('prefetch').toFixed(1)} ms (n=${splits.length} rounds)`;
}

const VARIANTS: Record<string, { flags: string[]; env?: Record<string, string> }> = {
  equal: { flags: ['--balance', 'equal'] },
  'equal-no-prefetch': { flags: ['--balance', 'equal'], env: { FLEET_PREFETCH: '0' } },
  speed: { flags: ['--balance', 'speed'] },
  // --single-threaded-gc: auto (the default) turns it on here, where 4 processes share 2 CPUs; off shows its gain.
  'speed-gc-off': { flags: ['--balance', 'speed', '--single-threaded-gc', 'off'] },
  'speed-pinned': { flags: ['--balance', 'speed', '--pin-workers', 'on'] },
};

/** The figures of a run, for docs/benchmarks.json. */
function recordFigures(
  names: string[],
  m: {
    ratios: Map<string, number[]>;
    rates: Map<string, number[]>;
    splits: Map<string, RoundSplit[]>;
    references: number[];
    backend: string;
    steps: number;
    batch: number;
  },
): void {
  const bench = 'distributed-throughput';
  const command = benchCommand(bench);
  const setup = `cnn, batch ${m.batch} a worker, ${m.steps} steps, ${m.backend}`;
  const referenceName = 'two independent one-process trainings at once, before and after (their mean)';
  recordFigure(figureOf({ bench, name: `${referenceName}: images/s summed (n = pairs run)`, unit: 'images/s', command }, m.references));
  const refMean = mean(m.references);
  for (const name of names) {
    const split = m.splits.get(name)!;
    const share = (k: keyof RoundSplit) =>
      split.length ? (100 * mean(split.map((s) => s[k]))) / mean(split.map((s) => s.round)) : Number.NaN;
    const limits = split.length
      ? `a worker's round is ${share('compute').toFixed(1)}% compute, ${share('exchange').toFixed(1)}% exchange, ${share('wait').toFixed(1)}% wait: against processes that only compute, the ratio is bounded near the compute share at equal speed`
      : 'no round lines to split';
    const variant = `${name} (${[...VARIANTS[name]!.flags, ...Object.entries(VARIANTS[name]!.env ?? {}).map(([k, v]) => `${k}=${v}`)].join(' ')})`;
    recordFigure(
      figureOf(
        {
          bench,
          name: `2 workers over gRPC, ${variant}, ${setup}: images/s (n = repeats)`,
          unit: 'images/s',
          reference: { name: referenceName, mean: refMean },
          limits,
          command,
        },
        m.rates.get(name)!,
      ),
    );
    recordFigure(
      figureOf(
        {
          bench,
          name: `2 workers, ${name}: ratio to the independent pair of the same repeat (n = repeats)`,
          unit: 'ratio',
          goal: { of: 'mean', op: '>=', value: 0.95 },
          limits,
          command,
        },
        m.ratios.get(name)!,
      ),
    );
    if (split.length === 0) continue;
    const round = { name: "a worker's whole round", mean: mean(split.map((s) => s.round)) };
    for (const part of ['compute', 'exchange', 'wait'] as const) {
      recordFigure(
        figureOf(
          {
            bench,
            name: `2 workers, ${name}: a worker's round, ${part} (n = rounds, both workers, first left out)`,
            unit: 'ms',
            reference: round,
            command,
          },
          split.map((s) => s[part]),
        ),
      );
    }
  }
}

export async function run(): Promise<void> {
  const steps = Number(process.env.FLEET_BENCH_STEPS ?? 24);
  const data = process.env.FLEET_BENCH_DATA ?? fileURLToPath(new URL('../../../shared/cifar10', import.meta.url));
  // oneDNN where built: a WASM repeat takes minutes, and oneDNN is what a worker here would run.
  const backend = process.env.FLEET_BENCH_BACKEND ?? (loadOnednn() ? 'onednn' : 'wasm');
  const repeats = Number(process.env.FLEET_BENCH_REPEATS ?? 2);
  const names = (process.env.FLEET_BENCH_VARIANTS ?? 'equal').split(',').filter(Boolean);
  for (const name of names)
    if (!VARIANTS[name]) throw new Error(`FLEET_BENCH_VARIANTS: unknown variant ${name} (${Object.keys(VARIANTS).join(', ')})`);
  const batch = 64;
  // Each of the two independent trainings gets half the CPUs, as each of the two workers does (the launcher's split).
  const threads = String(Math.max(1, Math.floor(cpus().length / 2)));
  const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-dist-'));
  const common = [
    '--model',
    'cnn',
    '--epochs',
    '1',
    '--batch-size',
    String(batch),
    '--lr',
    '0.02',
    '--data-dir',
    data,
    '--allow-partial',
    '--limit-test',
    '100',
    '--backend',
    backend,
    '--progress',
    'log',
  ];
  console.log(
    `distributed-throughput: cnn, batch ${batch} per worker, ${steps} steps a worker, ${backend}, ${repeats} repeat(s), ${new Date().toISOString()}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const pair = (rs: number[]) => `${rs.map((r) => r.toFixed(2)).join(' + ')} = ${sum(rs).toFixed(2)}`;
  const ratios = new Map<string, number[]>(names.map((n) => [n, []]));
  const rates2 = new Map<string, number[]>(names.map((n) => [n, []]));
  const references: number[] = [];
  const splits = new Map<string, RoundSplit[]>(names.map((n) => [n, []]));
  try {
    // Two independent one-process trainings at once, one step logged at a time.
    const single = (i: number, tag: string) =>
      fleet([
        'train',
        '--workers',
        '1',
        ...common,
        '--threads',
        threads,
        '--limit-train',
        String(batch * steps),
        '--out',
        join(dir, `single-${tag}-${i}`),
      ]);
    const independentPair = async (tag: string): Promise<number[]> => {
      const singles = await Promise.all([single(0, tag), single(1, tag)]);
      return singles.map((r, i) => {
        if (r.code !== 0) throw new Error(`independent training ${i} failed`);
        return rateFromLog(r.stdout, 'step done', () => batch);
      });
    };
    for (let rep = 1; rep <= repeats; rep++) {
      // The reference is measured before and after the distributed runs: this machine's speed drifts over minutes.
      const before = await independentPair(`${rep}a`);
      const rates: number[] = [];
      for (const name of names) {
        const v = VARIANTS[name]!;
        const out = join(dir, `dist-${rep}-${name}`);
        const dist = await fleet(
          ['train', '--workers', '2', ...common, ...v.flags, '--limit-train', String(2 * batch * steps), '--out', out],
          v.env ?? {},
        );
        if (dist.code !== 0) throw new Error(`2-worker training (${name}: ${v.flags.join(' ')}) failed`);
        // The coordinator's own log (the launcher shows its lines only with --verbose).
        rates.push(rateFromLog(await readFile(join(out, 'logs', 'coordinator.log'), 'utf8'), 'round closed', () => 2 * batch));
        const s = await roundSplits(out);
        splits.get(name)!.push(...s);
        console.log(`  repeat ${rep}, ${name}: ${describeSplit(s)}`);
      }
      const after = await independentPair(`${rep}b`);
      const together = (sum(before) + sum(after)) / 2;
      references.push(sum(before), sum(after));
      console.log(
        `repeat ${rep}: two independent processes: before ${pair(before)}, after ${pair(after)} images/s (first step excluded); reference: their mean, ${together.toFixed(2)}`,
      );
      names.forEach((name, i) => {
        const ratio = rates[i]! / together;
        ratios.get(name)!.push(ratio);
        rates2.get(name)!.push(rates[i]!);
        console.log(
          `repeat ${rep}: 2 workers + coordinator over gRPC, ${name} (${VARIANTS[name]!.flags.join(' ')}${VARIANTS[name]!.env ? ` ${Object.entries(VARIANTS[name]!.env!).map(([k, x]) => `${k}=${x}`)}` : ''}): ${rates[i]!.toFixed(2)} images/s (first round excluded), ratio ${ratio.toFixed(3)}`,
        );
      });
    }
    for (const name of names) {
      console.log(`${name}: ratio ${meanStd(ratios.get(name)!, 3)} (goal >= 0.95); ${describeSplit(splits.get(name)!)}`);
    }
    recordFigures(names, { ratios, rates: rates2, splits, references, backend, steps, batch });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await run();
