/**
 * A fleet run laid out over net-hosts.ts's hosts, for the multi-host tests
 * (test/integration/hosts-*.test.ts) and measurements: the coordinator bound
 * to its host's address, workers (and an evaluator) on other hosts dialling
 * that address. Tiny model, a few hundred generated images, the ledger on.
 *
 *   const bed = await HostsBed.create('partition', { names: ['coord', 'w0', 'w1'] });
 *   const coord = await bed.coordinator(bed.host('coord'), { workers: 2, epochs: 3 });
 *   const w0 = bed.worker(bed.host('w0'), coord, 'w0');
 *   ...
 *   await bed.dispose();   // kills the processes, deletes the namespaces and the files
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import type { RunShape } from './chaos-cluster.js';
import type { LineProcess } from './line-process.js';
import { makeHosts, type Host, type HostNet, type HostsOptions } from './net-hosts.js';

export const BED_TRAIN_IMAGES = 512;
export const BED_TEST_IMAGES = 50;
/** The coordinator's port on its host: the host's network is its own, any port is free. */
export const COORDINATOR_PORT = 7070;

export type HostCoordinator = LineProcess & { address: string; out: string; runId: string };

export class HostsBed {
  private constructor(
    readonly net: HostNet,
    readonly root: string,
    readonly dataDir: string,
  ) {}

  static async create(name: string, hosts: HostsOptions): Promise<HostsBed> {
    const root = await mkdtemp(join(tmpdir(), `fleet-hosts-${name}-`));
    const dataDir = join(root, 'data');
    await writeCifar10Files(dataDir, {
      trainBatches: 1,
      perBatch: BED_TRAIN_IMAGES,
      testCount: BED_TEST_IMAGES,
      pattern: 'learnable',
      seed: 18,
    });
    try {
      return new HostsBed(await makeHosts(hosts), root, dataDir);
    } catch (err) {
      await rm(root, { recursive: true, force: true });
      throw err;
    }
  }

  host(name: string): Host {
    const h = this.net.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} (hosts: ${this.net.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  /** `fleet coordinator` on `host`, listening on the host's address only; resolves once it listens. */
  async coordinator(host: Host, runId: string, shape: RunShape): Promise<HostCoordinator> {
    const out = join(this.root, runId);
    const p = host.fleet(
      [
        'coordinator',
        '--host',
        host.address,
        '--port',
        String(COORDINATOR_PORT),
        '--run-id',
        runId,
        '--out',
        out,
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
        String(BED_TEST_IMAGES),
        '--eval-batch-size',
        '50',
        '--heartbeat-timeout',
        String(shape.heartbeatTimeoutS ?? 2),
        '--round-timeout',
        String(shape.roundTimeoutS ?? 20),
        '--checkpoint-every',
        String(shape.checkpointEvery ?? 0),
        '--ledger',
        ...(shape.extra ?? []),
      ],
      shape.env,
    );
    await p.waitFor(/"msg":"listening"/, 60_000);
    return Object.assign(p, { address: `${host.address}:${COORDINATOR_PORT}`, out, runId });
  }

  /** `fleet worker` on `host`, dialling the coordinator's host address. */
  worker(host: Host, coordinator: HostCoordinator, name: string, extra: string[] = []): LineProcess {
    return host.fleet(['worker', '--coordinator', coordinator.address, '--name', name, '--connect-timeout', '60', ...extra]);
  }

  async dispose(): Promise<void> {
    await this.net.teardown();
    await rm(this.root, { recursive: true, force: true });
  }
}
