/**
 * Small real clusters for the chaos suite (test/chaos): a tiny model on a
 * few hundred images, short heartbeat and round timeouts, the coordinator's
 * ledger on. Every process started through a ChaosCluster is killed in
 * dispose(), whatever the test did to it.
 *
 *   const cluster = await ChaosCluster.create('worker-faults');
 *   const c = await cluster.coordinator('hang', { workers: 2 });
 *   const [w0, w1] = cluster.workers(c, 2, 'hang');
 *   ...
 *   const ledger = await readLedger(c.out, 2); // { lost, repeated, reports }
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startCoordinator, startFleet, type FleetProcess } from './fleet-processes.js';

export interface RunShape {
  /** --workers: N, or 'MIN:MAX'. */
  workers: number | string;
  epochs?: number;
  /** Images used (--limit-train); the data files hold TRAIN_IMAGES. */
  limitTrain?: number;
  batchSize?: number;
  /** 'default': the coordinator's own default (no flag). */
  heartbeatTimeoutS?: number | 'default';
  roundTimeoutS?: number;
  checkpointEvery?: number;
  /** Anything else for the coordinator (--nats, --external-evaluator, ...). */
  extra?: string[];
  /** Environment of the coordinator process (fault injection). */
  env?: Record<string, string>;
}

export const TRAIN_IMAGES = 512;
export const TEST_IMAGES = 50;

export type Coordinator = FleetProcess & { port: number; out: string; args: string[] };

export class ChaosCluster {
  readonly started: FleetProcess[] = [];

  private constructor(
    readonly root: string,
    readonly dataDir: string,
  ) {}

  static async create(name: string): Promise<ChaosCluster> {
    const root = await mkdtemp(join(tmpdir(), `fleet-chaos-${name}-`));
    const dataDir = join(root, 'data');
    await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: TRAIN_IMAGES, testCount: TEST_IMAGES, pattern: 'learnable', seed: 17 });
    return new ChaosCluster(root, dataDir);
  }

  /** The coordinator's flags for a run named `name` (its --out is root/name). */
  coordinatorArgs(name: string, shape: RunShape): string[] {
    return [
      '--run-id',
      name,
      '--out',
      join(this.root, name),
      '--data-dir',
      this.dataDir,
      '--allow-partial',
      '--model',
      'tiny',
      '--backend',
      'wasm',
      '--augment',
      'basic',
      '--lr',
      '0.02',
      '--warmup-epochs',
      '0',
      '--seed',
      '4',
      '--workers',
      String(shape.workers),
      '--epochs',
      String(shape.epochs ?? 2),
      '--batch-size',
      String(shape.batchSize ?? 16),
      '--limit-train',
      String(shape.limitTrain ?? 256),
      '--limit-test',
      String(TEST_IMAGES),
      '--eval-batch-size',
      '50',
      ...(shape.heartbeatTimeoutS === 'default' ? [] : ['--heartbeat-timeout', String(shape.heartbeatTimeoutS ?? 2)]),
      '--round-timeout',
      String(shape.roundTimeoutS ?? 20),
      '--checkpoint-every',
      String(shape.checkpointEvery ?? 0),
      '--ledger',
      ...(shape.extra ?? []),
    ];
  }

  /** Starts `fleet coordinator` on a free port and waits for its listening line. */
  async coordinator(name: string, shape: RunShape): Promise<Coordinator> {
    const args = this.coordinatorArgs(name, shape);
    const p = shape.env ? await startWithEnv(args, shape.env) : await startCoordinator(args);
    this.started.push(p);
    return { ...p, out: join(this.root, name), args };
  }

  /** Starts `fleet coordinator ... --resume` on `port` (the workers keep their address). */
  resume(previous: Coordinator, env: Record<string, string> = {}): Coordinator {
    const p = startFleet(['coordinator', '--host', '127.0.0.1', '--port', String(previous.port), ...previous.args, '--resume'], env);
    this.started.push(p);
    return { ...p, port: previous.port, out: previous.out, args: previous.args };
  }

  worker(port: number, name: string, extra: string[] = [], env: Record<string, string> = {}): FleetProcess {
    const p = startFleet(['worker', '--coordinator', `127.0.0.1:${port}`, '--name', name, '--connect-timeout', '60', ...extra], env);
    this.started.push(p);
    return p;
  }

  workers(c: { port: number }, n: number, prefix: string): FleetProcess[] {
    return Array.from({ length: n }, (_, i) => this.worker(c.port, `${prefix}-w${i}`));
  }

  track<T extends FleetProcess>(p: T): T {
    this.started.push(p);
    return p;
  }

  async dispose(): Promise<void> {
    for (const p of this.started) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL'); // stopped ones too
    }
    await Promise.all(this.started.map((p) => p.exited));
    await rm(this.root, { recursive: true, force: true });
  }
}

async function startWithEnv(args: string[], env: Record<string, string>): Promise<FleetProcess & { port: number }> {
  const p = startFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args], env);
  const line = await p.waitFor(/"msg":"listening"/);
  return { ...p, port: Number(/"port":(\d+)/.exec(line)![1]) };
}

export interface LedgerSummary {
  /** Samples never applied, summed over the epochs (missingCount). */
  lost: number;
  /** Samples applied more than once, summed over the epochs (repeatedCount). */
  repeated: number;
  reports: { epoch: number; ok: boolean; missingCount: number; repeatedCount: number }[];
}

/** The coordinator's applied-epoch-N.json for epochs 1..epochs (a missing file counts every sample of the epoch as lost). */
export async function readLedger(out: string, epochs: number, samplesPerEpoch: number): Promise<LedgerSummary> {
  const reports: LedgerSummary['reports'] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    try {
      reports.push(JSON.parse(await readFile(join(out, `applied-epoch-${epoch}.json`), 'utf8')) as LedgerSummary['reports'][number]);
    } catch {
      reports.push({ epoch, ok: false, missingCount: samplesPerEpoch, repeatedCount: 0 });
    }
  }
  return {
    lost: reports.reduce((n, r) => n + r.missingCount, 0),
    repeated: reports.reduce((n, r) => n + r.repeatedCount, 0),
    reports,
  };
}

/** Parsed pino lines of a process with this msg. */
export function logsWith(p: FleetProcess, msg: string): Record<string, unknown>[] {
  const needle = `"msg":${JSON.stringify(msg)}`;
  return p.lines.filter((l) => l.includes(needle)).map((l) => JSON.parse(l) as Record<string, unknown>);
}
