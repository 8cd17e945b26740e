/**
 * The garbage-worker scenario's accuracy: a real cluster
 * (a coordinator and 3 workers) on a subset of the real CIFAR-10, clean at
 * FLEET_BENCH_SEEDS seeds, then at FLEET_BENCH_FAULT_SEEDS (the same by default) with one worker uploading
 * garbage (FLEET_FAULT_GRADIENT: scaled, sign-flipped, random, noise under
 * the norm factor; a fault ending /noclip runs with the clip off, for the
 * side-by-side figure of what clipping saves) from round
 * FLEET_BENCH_FAULT_ROUND on. Prints the clean runs' final test accuracy
 * (mean +- std), each faulty run's and whether it lies inside the clean
 * spread (within 2 std of the clean mean, or inside [min, max]), and the
 * same after FLEET_BENCH_EARLY_EPOCH (the same runs: what the rounds before
 * a quarantine cost while the accuracy still climbs steeply); and the
 * contribution check's honest figures (accepted norms against their window
 * median, cosines) from the coordinators' debug lines: the margin the
 * thresholds have.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLineProcess, type LineProcess } from '../test/helpers/line-process.js';
import { isMain, meanStd } from './kernel-conv-shapes.js';
import { benchCommand, figureOf, recordFigure } from './figures.js';

const BENCH = 'garbage-worker';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FLEET = join(ROOT, 'cli/fleet.js');

type FleetProcess = LineProcess;
const startFleet = (args: string[], env: Record<string, string> = {}): FleetProcess =>
  startLineProcess(process.execPath, [FLEET, ...args], env);

function knobs() {
  const env = process.env;
  return {
    data: resolve(ROOT, env.FLEET_BENCH_DATA ?? '../shared/cifar10'),
    model: env.FLEET_BENCH_MODEL ?? 'tiny',
    train: Number(env.FLEET_BENCH_TRAIN ?? 2400),
    test: Number(env.FLEET_BENCH_TEST ?? 1000),
    // 6: the test accuracy has nearly levelled off (0.31 after 2 epochs, 0.36-0.41 after 6), so the final figure is
    // the run's result rather than its speed; the early epoch's is reported beside it (what the detection's rounds cost).
    epochs: Number(env.FLEET_BENCH_EPOCHS ?? 6),
    earlyEpoch: Number(env.FLEET_BENCH_EARLY_EPOCH ?? 2),
    batch: Number(env.FLEET_BENCH_BATCH ?? 48),
    // Per worker; peak lr = lr x workers (linear scaling). 0.02 as the chaos suite: fleet's default spikes on the tiny model.
    lr: env.FLEET_BENCH_LR ?? '0.02',
    seeds: (env.FLEET_BENCH_SEEDS ?? '1,2,3,4,5').split(',').map(Number),
    faults: (env.FLEET_BENCH_FAULTS ?? 'scale:100,sign-flip,random,noise:10,noise:10/noclip').split(',').filter(Boolean),
    faultRound: Number(env.FLEET_BENCH_FAULT_ROUND ?? 8),
    // The faulty runs' seeds (all the clean ones by default: a fault's figure is a mean too).
    faultSeeds: (env.FLEET_BENCH_FAULT_SEEDS ?? env.FLEET_BENCH_SEEDS ?? '1,2,3,4,5').split(',').map(Number),
  };
}

interface RunResult {
  accuracy: number;
  /** Test accuracy after each epoch. */
  byEpoch: number[];
  refused: number;
  clipped: number;
  quarantined: string[];
  /** The rule of each quarantine (norm-above, cosine, direction). */
  rules: string[];
  ledgerOk: boolean;
  /** Accepted contributions' norm over the window median, and cosines (debug lines). */
  normRatios: number[];
  cosines: number[];
  seconds: number;
}

async function runOnce(o: ReturnType<typeof knobs>, root: string, seed: number, fault: string | null, count = 3): Promise<RunResult> {
  const name = `s${seed}-w${count}-${(fault ?? 'clean').replace(/[^a-z0-9]/gi, '')}`;
  const [gradient, variant] = (fault ?? '').split('/');
  const out = join(root, name);
  const started = performance.now();
  const coordinator = startFleet(
    [
      'coordinator',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--run-id',
      name,
      '--out',
      out,
      '--data-dir',
      o.data,
      // The shared copy holds data_batch_1.bin only (10,000 images): enough for a subset.
      '--allow-partial',
      '--model',
      o.model,
      '--backend',
      'wasm',
      '--seed',
      String(seed),
      '--workers',
      String(count),
      '--epochs',
      String(o.epochs),
      '--batch-size',
      String(o.batch),
      '--lr',
      o.lr,
      '--limit-train',
      String(o.train),
      '--limit-test',
      String(o.test),
      '--checkpoint-every',
      '0',
      '--round-timeout',
      '120',
      '--ledger',
      ...(variant === 'noclip' ? ['--contribution-clip-factor', '0'] : []),
    ],
    { LOG_LEVEL: 'debug' },
  );
  const workers: FleetProcess[] = [];
  try {
    const port = Number(/"port":(\d+)/.exec(await coordinator.waitFor(/"msg":"listening"/, 120_000))![1]);
    for (let i = 0; i < count; i++) {
      const env: Record<string, string> = i === 2 && fault ? { FLEET_FAULT_GRADIENT: `${gradient}@${o.faultRound}` } : {};
      workers.push(startFleet(['worker', '--coordinator', `127.0.0.1:${port}`, '--name', `${name}-w${i}`], env));
    }
    // An honest worker that fails would leave the coordinator waiting: that ends the run at once.
    const honestFailed = workers.slice(0, fault ? count - 1 : count).map((w) =>
      w.exited.then((e) => {
        if (e.code !== 0) throw new Error(`${name}: a worker exited ${e.code}: ${w.lines.slice(-3).join('\n')}`);
        return new Promise<never>(() => {});
      }),
    );
    const exit = await Promise.race([coordinator.exited, ...honestFailed]);
    if (exit.code !== 0) throw new Error(`${name}: coordinator exited ${exit.code}: ${coordinator.lines.slice(-5).join('\n')}`);
    await Promise.all(workers.map((w) => w.exited));
  } catch (err) {
    // The coordinator's lines (debug: every contribution's figures) for the post-mortem.
    const dump = join(tmpdir(), `fleet-garbage-${name}-coordinator.log`);
    await writeFile(dump, coordinator.lines.join('\n'));
    throw new Error(`${(err as Error).message}\n(the coordinator's log: ${dump})`);
  } finally {
    for (const p of [coordinator, ...workers]) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
  const parsed = coordinator.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const epochs = parsed.filter((l) => l.msg === 'epoch done');
  const accuracy = Number(epochs.at(-1)?.testAccuracy);
  const figures = parsed.filter((l) => l.msg === 'contribution figures');
  let ledgerOk = true;
  for (let e = 1; e <= o.epochs; e++) {
    const report = JSON.parse(await readFile(join(out, `applied-epoch-${e}.json`), 'utf8')) as { ok: boolean };
    ledgerOk &&= report.ok;
  }
  const evictions = parsed.filter((l) => String(l.msg).startsWith('worker evicted: quarantined'));
  return {
    accuracy,
    byEpoch: epochs.map((l) => Number(l.testAccuracy)),
    refused: parsed.filter((l) => String(l.msg).startsWith('contribution refused by the contribution check')).length,
    clipped: parsed.filter((l) => String(l.msg).startsWith('contribution clipped by the contribution check')).length,
    quarantined: evictions.map((l) => String(l.name)),
    rules: evictions.map((l) => String(l.rule)),
    ledgerOk,
    normRatios: figures.filter((l) => typeof l.medianNorm === 'number').map((l) => Number(l.norm) / Number(l.medianNorm)),
    cosines: figures.filter((l) => typeof l.cosine === 'number').map((l) => Number(l.cosine)),
    seconds: (performance.now() - started) / 1000,
  };
}

function quantiles(xs: number[]): string {
  if (xs.length === 0) return 'none';
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(3);
  return `min ${s[0]!.toFixed(3)}, p1 ${q(0.01)}, median ${q(0.5)}, p99 ${q(0.99)}, max ${s.at(-1)!.toFixed(3)} (n ${s.length})`;
}

export async function run(): Promise<void> {
  const o = knobs();
  console.log(
    `garbage-worker: ${o.model}, ${o.train} train / ${o.test} test images of ${o.data}, ${o.epochs} epochs, batch ${o.batch}, 3 workers; clean at seeds ${o.seeds.join(',')}; faults ${o.faults.join(', ')} in worker 2 from round ${o.faultRound}, seeds ${o.faultSeeds.join(',')}`,
  );
  const root = await mkdtemp(join(tmpdir(), 'fleet-garbage-'));
  try {
    const clean: RunResult[] = [];
    for (const seed of o.seeds) {
      const r = await runOnce(o, root, seed, null);
      clean.push(r);
      console.log(
        `clean seed ${seed}: test accuracy ${r.byEpoch.map((a) => a.toFixed(3)).join(' ')}, refused ${r.refused}, quarantined ${r.quarantined.length}, ledger ${r.ledgerOk ? 'exact' : 'NOT exact'}, ${r.seconds.toFixed(0)} s`,
      );
    }
    // A quarantine leaves 2 workers: a smaller global batch, more steps an epoch. The faulty runs train with 3, then 2.
    const clean2: RunResult[] = [];
    for (const seed of o.seeds) {
      const r = await runOnce(o, root, seed, null, 2);
      clean2.push(r);
      console.log(
        `clean, 2 workers, seed ${seed}: test accuracy ${r.byEpoch.map((a) => a.toFixed(3)).join(' ')}, refused ${r.refused}, quarantined ${r.quarantined.length}, ${r.seconds.toFixed(0)} s`,
      );
    }
    console.log(`honest figures, norm / window median: ${quantiles(clean.flatMap((r) => r.normRatios))}`);
    console.log(`honest figures, cosine with the round's earlier contributions: ${quantiles(clean.flatMap((r) => r.cosines))}`);
    const faulty: { fault: string; runs: RunResult[] }[] = [];
    for (const fault of o.faults) {
      const runs: RunResult[] = [];
      for (const seed of o.faultSeeds) {
        const r = await runOnce(o, root, seed, fault);
        runs.push(r);
        console.log(
          `fault ${fault}@${o.faultRound}, seed ${seed}: test accuracy ${r.byEpoch.map((a) => a.toFixed(3)).join(' ')}, refused ${r.refused}, clipped ${r.clipped}, quarantined ${r.quarantined.map((q, k) => `${q} (${r.rules[k]})`).join(',') || 'none'}, ledger ${r.ledgerOk ? 'exact' : 'NOT exact'}, ${r.seconds.toFixed(0)} s`,
        );
      }
      faulty.push({ fault, runs });
    }
    // The final figures, then the same runs' after the early epoch (what the rounds before a quarantine cost).
    const points = o.earlyEpoch > 0 && o.earlyEpoch < o.epochs ? [o.epochs, o.earlyEpoch] : [o.epochs];
    for (const epoch of points) report(o, epoch, clean, clean2, faulty);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The figures after `epoch`: the clean spread, each fault's accuracy against it. */
function report(
  o: ReturnType<typeof knobs>,
  epoch: number,
  clean: RunResult[],
  clean2: RunResult[],
  faulty: { fault: string; runs: RunResult[] }[],
): void {
  const at = (r: RunResult) => r.byEpoch[epoch - 1]!;
  const when = epoch === o.epochs ? 'final test accuracy' : `test accuracy after epoch ${epoch}`;
  const accs = clean.map(at);
  const accs2 = clean2.map(at);
  const three = meanStd(accs);
  const two = meanStd(accs2);
  // Inside: between the lower and the upper of the two clean spreads (mean - 2 std of one, mean + 2 std of the other).
  const lo = Math.min(three.mean - 2 * three.std, two.mean - 2 * two.std, ...accs, ...accs2);
  const hi = Math.max(three.mean + 2 * three.std, two.mean + 2 * two.std, ...accs, ...accs2);
  console.log(
    `${when}: clean, 3 workers ${three.mean.toFixed(4)} +- ${three.std.toFixed(4)}; 2 workers ${two.mean.toFixed(4)} +- ${two.std.toFixed(4)}; the clean spread (mean +- 2 std, min and max) [${lo.toFixed(4)}, ${hi.toFixed(4)}]`,
  );
  const base = { bench: BENCH, unit: 'accuracy', command: benchCommand(BENCH) };
  const of = `${o.model}, ${o.train} images, ${o.epochs} epochs`;
  const honest = (runs: RunResult[]) =>
    `over the ${runs.length} runs: refused ${runs.reduce((t, r) => t + r.refused, 0)}, quarantined ${runs.reduce((t, r) => t + r.quarantined.length, 0)}`;
  recordFigure(figureOf({ ...base, name: `${of}, 2 workers, clean: ${when} (n = seeds)`, limits: honest(clean2) }, accs2));
  recordFigure(figureOf({ ...base, name: `${of}, 3 workers, clean: ${when} (n = seeds)`, limits: honest(clean) }, accs));
  for (const { fault, runs } of faulty) {
    const faultAccs = runs.map(at);
    const f = meanStd(faultAccs);
    const inside = faultAccs.filter((a) => a >= lo && a <= hi).length;
    const sum = (pick: (r: RunResult) => number) => runs.reduce((t, r) => t + pick(r), 0);
    const rules = runs.flatMap((r) => r.rules);
    const byRule = [...new Set(rules)].map((rule) => `${rules.filter((x) => x === rule).length} by ${rule}`).join(', ');
    const exact = runs.every((r) => r.ledgerOk);
    console.log(
      `${when}, fault ${fault}@${o.faultRound}: ${f.mean.toFixed(4)} +- ${f.std.toFixed(4)}, ${inside} of ${runs.length} inside the clean spread`,
    );
    recordFigure(
      figureOf(
        {
          ...base,
          name: `${o.model}, ${o.epochs} epochs, one worker of 3 uploading ${fault.replace('/noclip', ' (clip off)')} from round ${o.faultRound}: ${when} (n = seeds)`,
          reference: { name: 'the clean 3-worker runs (mean)', mean: three.mean },
          limits: `over the ${runs.length} runs: refused ${sum((r) => r.refused)}, clipped ${sum((r) => r.clipped)}, quarantined ${rules.length}${byRule ? ` (${byRule})` : ''}, ledger ${exact ? 'exact' : 'not exact'}; ${inside} of ${runs.length} inside the clean spread ([${lo.toFixed(4)}, ${hi.toFixed(4)}]: 3 and 2 workers, mean +- 2 std, min and max)`,
        },
        faultAccs,
      ),
    );
  }
}

if (isMain(import.meta.url)) await run();
