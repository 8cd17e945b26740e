/**
 * The soak run (not in `npm test`): a multi-worker training of about an hour
 * on real CIFAR-10, with faults from a schedule given as data
 * (fault-schedule.ts), beside a clean run of the same flags and seed. At the
 * end (--minutes, then both runs stopped gracefully) it prints the chaos
 * suite's summary line for what it did, then the rounds and epochs
 * completed and the test accuracy against the clean run's at the last epoch
 * both scored.
 *
 *   npm run soak                                    # bench/soak/schedule.json, 1 hour
 *   npm run soak -- --schedule my.json --minutes 15 # shorter
 *
 * The soak cluster is what a real one is: nats-server (JetStream on disk),
 * `fleet coordinator --external-evaluator`, `fleet evaluator`, N `fleet
 * worker`s, each its own process, each restarted by a supervisor when it
 * dies (as a Deployment would); the run directory is a tmpfs when the soak
 * runs as root (so the disk can fill up). The clean run is a coordinator
 * scoring its own epochs with N workers, no NATS, no faults.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, rm, unlink } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readMetricsLines } from '../../src/training/run-record/run-record.js';
import { createRootLogger } from '../../src/runtime/logger.js';
import {
  findNatsServer,
  freeLocalPort,
  startNatsServerProcess,
  type NatsServerProcess,
} from '../../services/launcher/nats-server-process.js';
import { chaosSummaryLine, chaosTotals, type ChaosRecord } from '../../test/helpers/chaos-totals.js';
import { readLedger } from '../../test/helpers/chaos-cluster.js';
import { readSchedule, scheduleEnd, type Fault, type FaultSchedule } from './fault-schedule.js';
import { SoakProcess } from './soak-process.js';

const log = createRootLogger({ service: 'soak', run: 'soak' });

const { values: flags } = parseArgs({
  options: {
    schedule: { type: 'string', default: 'bench/soak/schedule.json' },
    'data-dir': { type: 'string', default: '../shared/cifar10' },
    out: { type: 'string' },
    workers: { type: 'string', default: '3' },
    /** The coordinator's --workers (default N-1:N+1: a worker may be missing, a garbage one may join). */
    membership: { type: 'string' },
    model: { type: 'string', default: 'cnn' },
    backend: { type: 'string', default: 'auto' },
    /** The soak's length: both runs are stopped (SIGTERM: drained, checkpointed) then; 0: run to --epochs. */
    minutes: { type: 'string', default: '60' },
    // An upper bound with --minutes (and the lr schedule's length): more than an hour holds on these machines
    // (2 cores, cnn on oneDNN, 79 rounds an epoch), from 7 epochs an hour on one to 40 in 53 minutes on another,
    // so --minutes ends the soak, not the run.
    epochs: { type: 'string', default: '80' },
    'batch-size': { type: 'string', default: '32' },
    'limit-train': { type: 'string', default: '10000' },
    'limit-test': { type: 'string', default: '2000' },
    lr: { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '1' },
    /** Minutes after which the soak gives up (a hang): a failure. */
    'time-limit': { type: 'string', default: '100' },
    'no-clean': { type: 'boolean', default: false },
    'tmpfs-size': { type: 'string', default: '512m' },
  },
});

const workers = Number(flags.workers);
const epochs = Number(flags.epochs);
const timeLimitMs = Number(flags['time-limit']) * 60_000;
const soakMs = Number(flags.minutes) * 60_000;
const limitTrain = Number(flags['limit-train']);
if (!(Number.isInteger(workers) && workers >= 2)) throw new Error(`--workers must be an integer >= 2, got ${flags.workers}`);
if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`--epochs must be an integer >= 1, got ${flags.epochs}`);
if (!(soakMs >= 0)) throw new Error(`--minutes must be >= 0, got ${flags.minutes}`);
if (!(timeLimitMs > soakMs)) throw new Error(`--time-limit (minutes) must be more than --minutes, got ${flags['time-limit']}`);

const RUN_ID = 'soak';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The flags both runs share: the same training, seed and data. */
function trainingFlags(out: string): string[] {
  return [
    '--out',
    out,
    '--data-dir',
    resolve(flags['data-dir']),
    // The shared copy holds data_batch_1.bin only.
    '--allow-partial',
    '--model',
    flags.model,
    '--backend',
    flags.backend,
    '--workers',
    flags.membership ?? `${workers - 1}:${workers + 1}`,
    '--epochs',
    String(epochs),
    '--batch-size',
    flags['batch-size'],
    '--limit-train',
    String(limitTrain),
    '--limit-test',
    flags['limit-test'],
    '--lr',
    flags.lr,
    '--seed',
    flags.seed,
    '--ledger',
    '--checkpoint-every-seconds',
    '60',
  ];
}

interface Cluster {
  coordinator: SoakProcess;
  workers: SoakProcess[];
  evaluator?: SoakProcess;
  /** Every process, garbage workers included, for the final stop. */
  all: SoakProcess[];
  /** host:port the workers dial. */
  address: string;
  rounds: { last: number; closes: number };
  /** Workers the coordinator quarantined, and contributions it refused or clipped (its log lines). */
  readonly quarantined: number;
  readonly refused: number;
  readonly clipped: number;
  /** The names of the workers whose contributions it clipped. */
  readonly clippedNames: ReadonlySet<string>;
}

function supervised(
  name: string,
  args: string[],
  logDir: string,
  cluster: Pick<Cluster, 'all'>,
  extra: Partial<ConstructorParameters<typeof SoakProcess>[0]> = {},
): SoakProcess {
  const p = new SoakProcess({
    name,
    args,
    logFile: join(logDir, `${name}.log`),
    restartDelayMs: 5000,
    onEvent: (what, fields) => log.warn(fields, `${name}: ${what}`),
    ...extra,
  });
  cluster.all.push(p);
  return p;
}

async function startCluster(kind: 'soak' | 'clean', root: string, runOut: string, nats?: NatsServerProcess): Promise<Cluster> {
  const port = await freeLocalPort([4222]);
  const logDir = join(root, `${kind}-logs`);
  await mkdir(logDir, { recursive: true });
  const all: SoakProcess[] = [];
  const rounds = { last: 0, closes: 0 };
  const counts = { quarantined: 0, refused: 0, clipped: 0 };
  const clippedNames = new Set<string>();
  const base = ['coordinator', '--host', '127.0.0.1', '--port', String(port), '--run-id', `${RUN_ID}-${kind}`, ...trainingFlags(runOut)];
  const withNats = nats ? ['--nats', nats.url, '--external-evaluator'] : [];
  const coordinator = supervised(
    `${kind}-coordinator`,
    [...base, ...withNats],
    logDir,
    { all },
    {
      // auto: a kill before the first checkpoint starts the run again instead of failing.
      restartArgs: [...base, ...withNats, '--resume', 'auto'],
      onLine: (line) => {
        if (!line.includes('"msg":"round closed"')) {
          if (line.includes('"msg":"worker evicted: quarantined')) counts.quarantined += 1;
          else if (line.includes('"msg":"contribution refused by the contribution check')) counts.refused += 1;
          else if (line.includes('"msg":"contribution clipped by the contribution check')) {
            counts.clipped += 1;
            clippedNames.add(/"name":"([^"]*)"/.exec(line)?.[1] ?? '?');
          }
          return;
        }
        const round = Number(/"round":(\d+)/.exec(line)?.[1] ?? 0);
        rounds.closes += 1;
        rounds.last = Math.max(rounds.last, round);
      },
    },
  );
  coordinator.start();
  // A first start that fails (bad flags, no data) will not get better by restarting: stop the soak.
  let listening = false;
  const failedFirst = coordinator.exited().then(() => {
    if (!listening) throw new Error(`${kind} coordinator exited at its first start:\n${coordinator.lastLines.slice(-5).join('\n')}`);
  });
  failedFirst.catch(() => {});
  await Promise.race([
    coordinator.waitFor(/"msg":"listening"/, 120_000).then(() => {
      listening = true;
    }),
    failedFirst,
  ]);
  const address = `127.0.0.1:${port}`;
  const evaluator = nats
    ? supervised(
        `${kind}-evaluator`,
        [
          'evaluator',
          '--coordinator',
          address,
          '--nats',
          nats.url,
          '--run',
          `${RUN_ID}-${kind}`,
          '--out',
          runOut,
          '--connect-timeout',
          '10m',
        ],
        logDir,
        { all },
      )
    : undefined;
  evaluator?.start();
  const members = Array.from({ length: workers }, (_, i) =>
    supervised(`${kind}-worker-${i}`, ['worker', '--coordinator', address, '--name', `${kind}-w${i}`, '--connect-timeout', '10m'], logDir, {
      all,
    }),
  );
  for (const w of members) w.start();
  return {
    coordinator,
    workers: members,
    ...(evaluator ? { evaluator } : {}),
    all,
    address,
    rounds,
    get quarantined() {
      return counts.quarantined;
    },
    get refused() {
      return counts.refused;
    },
    get clipped() {
      return counts.clipped;
    },
    clippedNames,
  };
}

/** The run directory on a tmpfs of its own when this process may mount one (root), so the disk can be filled. */
async function runDirectory(root: string): Promise<{ dir: string; tmpfs: boolean; why?: string }> {
  const dir = join(root, 'soak-run');
  await mkdir(dir, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${flags['tmpfs-size']}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mounted.status === 0) return { dir, tmpfs: true };
  return { dir, tmpfs: false, why: (mounted.stderr || mounted.error?.message || 'mount failed').trim() };
}

/** Writes zeros until the disk says ENOSPC; returns the filler's path and size. */
async function fillDisk(dir: string): Promise<{ path: string; bytes: number }> {
  const path = join(dir, '.soak-filler');
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(1 << 20);
  let bytes = 0;
  try {
    for (;;) {
      try {
        const { bytesWritten } = await handle.write(chunk);
        bytes += bytesWritten;
        if (bytesWritten < chunk.length) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
    // The last few KB too: a 1 MB write may fail with room left for a small file.
    const small = Buffer.alloc(4096);
    for (;;) {
      try {
        const { bytesWritten } = await handle.write(small);
        bytes += bytesWritten;
        if (bytesWritten < small.length) break;
      } catch {
        break;
      }
    }
  } finally {
    await handle.close();
  }
  return { path, bytes };
}

interface Applied {
  fault: Fault;
  startedAt: number;
  /** Not done, and why (no tmpfs, the process was not running). */
  skipped?: string;
  /** Done, but fleet did not handle it as it must (a garbage worker not quarantined). */
  failed?: string;
}

/** A fault's result: nothing when applied and handled. */
type Outcome = string | { failed: string } | undefined;

async function applyFault(
  f: Fault,
  soak: Cluster,
  nats: NatsServerProcess,
  disk: { dir: string; tmpfs: boolean; why?: string },
  logDir: string,
  garbageIndex: number,
): Promise<Outcome> {
  switch (f.kind) {
    case 'kill-worker': {
      const w = soak.workers[f.worker]!;
      if (!w.signal('SIGKILL')) return `${w.name} was not running`;
      await w.exited();
      await sleep(f.restartAfter);
      w.start();
      return undefined;
    }
    case 'stop-worker': {
      const w = soak.workers[f.worker]!;
      if (!w.signal('SIGSTOP')) return `${w.name} was not running`;
      await sleep(f.for);
      w.signal('SIGCONT');
      return undefined;
    }
    case 'kill-coordinator': {
      soak.coordinator.signal('SIGKILL');
      await soak.coordinator.exited();
      await sleep(f.restartAfter);
      soak.coordinator.start();
      return undefined;
    }
    case 'kill-evaluator': {
      const e = soak.evaluator;
      if (!e?.signal('SIGKILL')) return 'the evaluator was not running';
      await e.exited();
      await sleep(f.restartAfter);
      e.start();
      return undefined;
    }
    case 'restart-nats': {
      await nats.kill();
      await sleep(f.down);
      await nats.restart();
      return undefined;
    }
    case 'disk-full': {
      if (!disk.tmpfs) return `the run directory is not a tmpfs (${disk.why})`;
      const filler = await fillDisk(disk.dir);
      log.warn({ bytes: filler.bytes, for: f.for }, 'disk full');
      await sleep(f.for);
      await unlink(filler.path);
      return undefined;
    }
    case 'garbage-worker': {
      const g = supervised(
        `soak-garbage-${garbageIndex}`,
        ['worker', '--coordinator', soak.address, '--name', `soak-garbage-${garbageIndex}`, '--connect-timeout', '1m'],
        logDir,
        soak,
        {
          env: { FLEET_FAULT_GRADIENT: f.gradient },
          restart: false,
        },
      );
      g.start();
      await Promise.race([g.exited(), sleep(f.for)]);
      await sleep(1000);
      // Noise under the norm factor is accepted, clipped to the bound: handled when the coordinator clipped it.
      const clipped = f.gradient.startsWith('noise:') && soak.clippedNames.has(g.name);
      if (g.running) {
        await g.stop();
        if (clipped) return undefined;
        return { failed: `the garbage worker was still a member after ${f.for / 1000}s: not quarantined nor clipped` };
      }
      return undefined;
    }
  }
}

/** Test accuracy by epoch, from the run's metrics.jsonl (the last line of an epoch wins). */
async function accuracyByEpoch(runOut: string): Promise<Map<number, number>> {
  const byEpoch = new Map<number, number>();
  try {
    for (const l of await readMetricsLines(runOut)) byEpoch.set(l.epoch, l.testAccuracy);
  } catch {
    // no line yet
  }
  return byEpoch;
}

/**
 * Epochs 1..N the run completed: up to the last with a ledger file or a metrics line (an epoch cut short by
 * the stop has neither). A ledger file missing below that counts as every sample of its epoch lost.
 */
async function completedEpochs(runOut: string): Promise<number> {
  let n = Math.max(0, ...(await accuracyByEpoch(runOut)).keys());
  while (n < epochs && existsSync(join(runOut, `applied-epoch-${n + 1}.json`))) n++;
  return n;
}

async function main(): Promise<void> {
  const schedule: FaultSchedule = await readSchedule(flags.schedule, workers);
  const natsBinary = findNatsServer();
  if (!natsBinary) throw new Error('nats-server not found: the soak runs its own (apt-get install nats-server)');
  const root = resolve(flags.out ?? `/tmp/fleet-soak-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(root, { recursive: true });
  const disk = await runDirectory(root);
  if (!disk.tmpfs) log.warn({ why: disk.why }, 'the run directory is not a tmpfs: disk-full faults will be skipped');
  const natsStore = join(root, 'nats-store');
  await mkdir(natsStore, { recursive: true });
  const nats = await startNatsServerProcess({ binary: natsBinary, port: await freeLocalPort([4222]), storeDir: natsStore });
  log.info(
    {
      root,
      schedule: flags.schedule,
      faults: schedule.faults.length,
      scheduleEndsAfterS: scheduleEnd(schedule) / 1000,
      workers,
      epochs,
      model: flags.model,
    },
    'soak starting',
  );

  const startedAt = Date.now();
  const soak = await startCluster('soak', root, disk.dir, nats);
  const cleanOut = join(root, 'clean-run');
  const clean = flags['no-clean'] ? undefined : await startCluster('clean', root, cleanOut);

  const applied: Applied[] = [];
  let faultsRunning = 0;
  const timers = schedule.faults.map((fault, i) =>
    setTimeout(
      () => {
        const record: Applied = { fault, startedAt: Date.now() };
        applied.push(record);
        faultsRunning += 1;
        log.warn({ fault }, `fault ${i + 1} of ${schedule.faults.length}: ${fault.kind}`);
        applyFault(fault, soak, nats, disk, join(root, 'soak-logs'), i)
          .then((outcome) => {
            if (typeof outcome === 'string') {
              record.skipped = outcome;
              log.warn({ fault: fault.kind, skipped: outcome }, 'fault not applied');
            } else if (outcome) {
              record.failed = outcome.failed;
              log.error({ fault: fault.kind, failed: outcome.failed }, 'fault not handled');
            }
          })
          .catch((err: Error) => {
            record.skipped = err.message;
            log.error({ fault: fault.kind, err: err.message }, 'fault failed');
          })
          .finally(() => {
            faultsRunning -= 1;
          });
      },
      Math.max(0, fault.at - (Date.now() - startedAt)),
    ),
  );

  const progress = setInterval(() => {
    log.info(
      {
        minutes: Number(((Date.now() - startedAt) / 60_000).toFixed(1)),
        round: soak.rounds.last,
        cleanRound: clean?.rounds.last,
        faultsDone: applied.length,
        faultsRunning,
      },
      'soak progress',
    );
  }, 60_000);

  const finished = Promise.all([soak.coordinator.done, soak.evaluator?.done, clean?.coordinator.done]).then(() => 'finished' as const);
  const timeUp = soakMs > 0 ? sleep(soakMs).then(() => 'time up' as const) : new Promise<never>(() => {});
  const outcome = await Promise.race([finished, timeUp, sleep(timeLimitMs).then(() => 'time limit' as const)]);
  clearInterval(progress);
  for (const t of timers) clearTimeout(t);
  const minutes = (Date.now() - startedAt) / 60_000;
  if (outcome === 'time up') {
    // A graceful stop, as an operator's: the coordinators drain their round and checkpoint.
    log.info({ minutes }, 'soak time up: stopping both runs (SIGTERM)');
    await Promise.all([soak.coordinator.terminate(120_000), clean?.coordinator.terminate(120_000)]);
  }
  // Workers exit once they see the run finished; give them a moment, then stop whatever is left.
  await sleep(3000);
  for (const p of [...soak.all, ...(clean?.all ?? [])]) await p.stop();
  await nats.stop();

  const soakEpochs = await completedEpochs(disk.dir);
  const ledger = await readLedger(disk.dir, soakEpochs, limitTrain);
  const cleanLedger = clean ? await readLedger(cleanOut, await completedEpochs(cleanOut), limitTrain) : undefined;
  const done = applied.filter((a) => !a.skipped);
  const records: ChaosRecord[] = done.map((a) => ({ scenario: `soak: ${a.fault.kind}`, faultsInjected: 1 }));
  records.push({ scenario: 'soak: ledger', samplesLost: ledger.lost, samplesRepeated: ledger.repeated });
  // Compared at the last epoch both runs scored (the faults slow the soak run down).
  const soakScores = await accuracyByEpoch(disk.dir);
  const cleanScores = clean ? await accuracyByEpoch(cleanOut) : new Map<number, number>();
  const common = [...soakScores.keys()].filter((e) => !clean || cleanScores.has(e));
  const atEpoch = common.length > 0 ? Math.max(...common) : null;
  const accuracy = atEpoch === null ? null : soakScores.get(atEpoch)!;
  const cleanAccuracy = atEpoch === null || !clean ? null : cleanScores.get(atEpoch)!;
  const unplanned = soak.all.reduce((n, p) => n + p.unplannedExits, 0);
  const pct = (a: number | null) => (a === null ? 'none' : `${(a * 100).toFixed(2)}%`);

  log.info(
    {
      outcome,
      skipped: applied.filter((a) => a.skipped).map((a) => ({ kind: a.fault.kind, at: a.fault.at / 1000, why: a.skipped })),
      notHandled: applied.filter((a) => a.failed).map((a) => ({ kind: a.fault.kind, at: a.fault.at / 1000, why: a.failed })),
      notReached: schedule.faults.length - applied.length,
      ledger: ledger.reports,
      cleanLedger: cleanLedger?.reports,
    },
    'soak finished',
  );
  process.stdout.write(`\n${chaosSummaryLine(chaosTotals(records))}\n`);
  process.stdout.write(
    `soak: ${outcome} after ${minutes.toFixed(1)} min; ${soak.rounds.last} rounds completed (${soak.rounds.closes} closed, ` +
      `${soak.rounds.closes - soak.rounds.last} redone after restarts); clean run ${clean ? `${clean.rounds.last} rounds` : 'not run'}; ` +
      `${soakEpochs} epochs completed (clean ${clean ? Math.max(0, ...cleanScores.keys()) : '-'}); ` +
      `test accuracy at epoch ${atEpoch ?? '-'} ${pct(accuracy)} against ${pct(cleanAccuracy)} clean (seed ${flags.seed}); ` +
      `${done.length} of ${schedule.faults.length} faults applied (${applied.length - done.length} skipped, ` +
      `${applied.filter((a) => a.failed).length} not handled); ` +
      `${unplanned} unplanned exits; ${soak.refused} contributions refused, ${soak.clipped} clipped and ${soak.quarantined} workers quarantined ` +
      `(clean run: ${clean ? `${clean.refused}, ${clean.clipped} and ${clean.quarantined}` : '-'})\n`,
  );
  if (disk.tmpfs) {
    // Keep the run's files for a look afterwards: the tmpfs goes with the unmount.
    spawnSync('cp', ['-a', disk.dir, join(root, 'soak-run-files')]);
    spawnSync('umount', [disk.dir]);
  }
  if (outcome === 'time limit' || soakEpochs === 0 || ledger.lost > 0 || ledger.repeated > 0 || applied.some((a) => a.failed))
    process.exitCode = 1;
  await rm(natsStore, { recursive: true, force: true });
}

await main();
// The time limit's timer and the workers' retries would keep the process alive: the soak is over.
process.exit();
