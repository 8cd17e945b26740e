/**
 * 2-worker training throughput against two independent single-process
 * trainings running at the same time, side by side in one run, on the real
 * data: the cnn at batch 64 per worker on the WASM backend. The 2-worker run
 * four times: the defaults (equal shards, workers where the OS puts them,
 * --single-threaded-gc auto); --balance speed (shards in proportion to each
 * worker's measured speed, services/coordinator/balance); the same with
 * V8's parallel GC (--single-threaded-gc off); and --balance speed with
 * --pin-workers on (each worker keeps its core).
 * FLEET_BENCH_STEPS (16) steps per worker, FLEET_BENCH_DATA (../shared/cifar10).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from './kernel-conv-shapes.js';

const FLEET = fileURLToPath(new URL('../../cli/fleet.js', import.meta.url));

function fleet(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    // debug: the one-process trainer logs every step ('step done'), timed like the rounds.
    const child = spawn(process.execPath, [FLEET, ...args], {
      env: { ...process.env, FLEET_LOG_PRETTY: '0', LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

/** Images/s of a run from its log: samples trained between the first and the last step or round. */
function rateFromLog(stdout: string, msg: string, samplesOf: (line: Record<string, unknown>) => number): number {
  const lines = stdout
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (lines.length < 2) throw new Error(`too few '${msg}' lines to time`);
  const first = lines[0]!;
  const last = lines[lines.length - 1]!;
  const samples = lines.slice(1).reduce((n, l) => n + samplesOf(l), 0);
  return (samples * 1000) / ((last.time as number) - (first.time as number));
}

export async function run(): Promise<void> {
  const steps = Number(process.env.FLEET_BENCH_STEPS ?? 16);
  const data = process.env.FLEET_BENCH_DATA ?? fileURLToPath(new URL('../../../shared/cifar10', import.meta.url));
  const batch = 64;
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
    'wasm',
    '--progress',
    'log',
  ];
  try {
    // Two independent one-process trainings at once, one step logged at a time.
    const single = (i: number) =>
      fleet(['train', '--workers', '1', ...common, '--limit-train', String(batch * steps), '--out', join(dir, `single-${i}`)]);
    const independentPair = async (): Promise<number[]> => {
      const singles = await Promise.all([single(0), single(1)]);
      return singles.map((r, i) => {
        if (r.code !== 0) throw new Error(`independent training ${i} failed`);
        return rateFromLog(r.stdout, 'step done', () => batch);
      });
    };
    // The reference is measured before and after the distributed runs: this machine's speed drifts over minutes.
    const before = await independentPair();
    // --single-threaded-gc: auto (the default) turns it on here, where 4 processes share 2 CPUs; off shows its gain.
    const variants = [
      ['--balance', 'equal'],
      ['--balance', 'speed'],
      ['--balance', 'speed', '--single-threaded-gc', 'off'],
      ['--balance', 'speed', '--pin-workers', 'on'],
    ];
    const rates: number[] = [];
    for (const [i, flags] of variants.entries()) {
      const dist = await fleet([
        'train',
        '--workers',
        '2',
        ...common,
        ...flags,
        '--limit-train',
        String(2 * batch * steps),
        '--out',
        join(dir, `dist-${i}`),
      ]);
      if (dist.code !== 0) throw new Error(`2-worker training (${flags.join(' ')}) failed`);
      rates.push(rateFromLog(dist.stdout, 'round closed', () => 2 * batch));
    }
    const after = await independentPair();
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const together = (sum(before) + sum(after)) / 2;

    console.log(`distributed-throughput: cnn, batch ${batch} per worker, ${steps} steps a worker, wasm, ${new Date().toISOString()}`);
    const pair = (rs: number[]) => `${rs.map((r) => r.toFixed(2)).join(' + ')} = ${sum(rs).toFixed(2)}`;
    console.log(
      `two independent processes: before ${pair(before)}, after ${pair(after)} images/s (first step excluded); reference: their mean, ${together.toFixed(2)}`,
    );
    variants.forEach((flags, i) => {
      console.log(
        `2 workers + coordinator over gRPC, ${flags.join(' ')}: ${rates[i]!.toFixed(2)} images/s (first round excluded), ratio ${(rates[i]! / together).toFixed(3)} (goal >= 0.9)`,
      );
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await run();
