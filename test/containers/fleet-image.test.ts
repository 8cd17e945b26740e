import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedNetwork, StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { containerEngineAbsent } from './container-engine.js';
import { buildFleetImage, REPO_ROOT } from './fleet-image.js';

/**
 * The fleet image built from deploy/docker/Dockerfile as it is when the
 * tests run (context: the repository root), then a small run across
 * containers on one network: NATS, a coordinator, two workers and an
 * evaluator, a tiny model on generated data in a mounted folder.
 */

const NATS_IMAGE = 'nats:2.10';
// Loaded when the tests run: a machine without a container engine skips them without paying for the import.
const testcontainers = () => import('testcontainers');
const COORDINATOR_PORT = 7070;

async function textOf(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

/** Waits for a container to exit (its main process), and gives its exit code. */
async function exitCodeOf(container: StartedTestContainer, timeoutMs: number): Promise<number> {
  const client = await (await testcontainers()).getContainerRuntimeClient();
  const waited = client.container.getById(container.getId()).wait() as Promise<{ StatusCode: number }>;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`container ${container.getName()} still running after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return (await Promise.race([waited, timeout])).StatusCode;
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(containerEngineAbsent() !== null)('the fleet image (deploy/docker/Dockerfile)', () => {
  let image: string;
  let root: string;
  const started: StartedTestContainer[] = [];
  let network: StartedNetwork | undefined;

  beforeAll(async () => {
    image = await buildFleetImage();
    root = await mkdtemp(join(tmpdir(), 'fleet-containers-run-'));
    // The image runs as an unprivileged user: it reads the data and writes the run directory through the mounts.
    await chmod(root, 0o755);
  }, 1_800_000);

  afterAll(async () => {
    for (const c of started.reverse()) await c.stop().catch(() => {});
    await network?.stop().catch(() => {});
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('runs `fleet --version` and prints the version of package.json', async () => {
    const { GenericContainer, Wait } = await testcontainers();
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const container = await new GenericContainer(image).withCommand(['--version']).withWaitStrategy(Wait.forOneShotStartup()).start();
    started.push(container);
    expect((await textOf(await container.logs())).trim()).toBe(version);
  });

  it('trains a tiny model across containers: coordinator, two workers and an evaluator on one network, with NATS', async () => {
    const { GenericContainer, Network, Wait } = await testcontainers();
    const dataDir = join(root, 'data');
    const runsDir = join(root, 'runs');
    await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 100, pattern: 'learnable', seed: 8 });
    await chmod(dataDir, 0o755);
    await mkdir(runsDir);
    // chmod, not mkdir's mode: the umask would take write access from the image's user.
    await chmod(runsDir, 0o777);
    const run = 'containers-run';
    const out = `/runs/${run}`;
    const mounts = [
      { source: dataDir, target: '/data', mode: 'ro' as const },
      { source: runsDir, target: '/runs', mode: 'rw' as const },
    ];
    network = await new Network().start();
    const fleet = (name: string, args: string[]) =>
      new GenericContainer(image).withNetwork(network!).withNetworkAliases(name).withBindMounts(mounts).withCommand(args);

    started.push(
      await new GenericContainer(NATS_IMAGE)
        .withNetwork(network)
        .withNetworkAliases('nats')
        .withCommand(['-js'])
        .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
        .start(),
    );
    const coordinator = await fleet('coordinator', [
      'coordinator',
      '--port',
      String(COORDINATOR_PORT),
      '--host',
      '0.0.0.0',
      '--workers',
      '2',
      '--run-id',
      run,
      '--out',
      out,
      '--model',
      'tiny',
      '--epochs',
      '1',
      '--batch-size',
      '32',
      '--data-dir',
      '/data',
      '--allow-partial',
      '--backend',
      'wasm',
      '--nats',
      'nats://nats:4222',
      '--external-evaluator',
    ])
      .withWaitStrategy(Wait.forLogMessage(/"msg":"listening"/))
      .start();
    started.push(coordinator);
    const address = `coordinator:${COORDINATOR_PORT}`;
    started.push(
      await fleet('evaluator', [
        'evaluator',
        '--coordinator',
        address,
        '--run',
        run,
        '--out',
        out,
        '--data-dir',
        '/data',
        '--backend',
        'wasm',
        '--nats',
        'nats://nats:4222',
      ]).start(),
    );
    for (const i of [0, 1]) {
      started.push(
        await fleet(`worker-${i}`, ['worker', '--coordinator', address, '--name', `container-${i}`, '--data-dir', '/data']).start(),
      );
    }

    const code = await exitCodeOf(coordinator, 600_000);
    expect(code, await textOf(await coordinator.logs())).toBe(0);
    const config = JSON.parse(await readFile(join(runsDir, run, 'config.json'), 'utf8'));
    expect(config.config).toMatchObject({ workers: 2, model: 'tiny', epochs: 1 });
    // Scored by the evaluator container from the coordinator's checkpoint, written through the shared mount.
    const metrics = (await readFile(join(runsDir, run, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; testAccuracy: number });
    expect(metrics.map((m) => m.epoch)).toEqual([1]);
    expect(Number.isFinite(metrics[0]?.testAccuracy)).toBe(true);
    await expect(readFile(join(runsDir, run, 'best', 'model.json'), 'utf8')).resolves.toContain('modelTopology');
  });
});
