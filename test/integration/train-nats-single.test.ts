import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLocalPort } from '../../services/launcher/nats-server-process.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { readRunEvents } from '../helpers/run-events.js';
import { logLines, runFleet } from '../helpers/run-fleet.js';

/**
 * `fleet train --workers 1 --nats URL` publishes the run's events as a
 * cluster does (it runs one: a coordinator, one worker and an evaluator);
 * a --nats nobody answers fails at once, before anything is written.
 */
let root: string;
let dataDir: string;
let server: NatsServerHandle | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-nats-single-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 100, pattern: 'learnable', seed: 8 });
  if (natsServerAvailable()) server = await startNatsServer();
});

afterAll(async () => {
  await server?.dispose();
  await rm(root, { recursive: true, force: true });
});

const training = (out: string, nats: string, runId: string) => [
  'train',
  '--workers',
  '1',
  '--model',
  'tiny',
  '--epochs',
  '1',
  '--batch-size',
  '64',
  '--lr',
  '0.02',
  '--warmup-epochs',
  '0',
  '--data-dir',
  dataDir,
  '--allow-partial',
  '--backend',
  'wasm',
  '--run-id',
  runId,
  '--out',
  out,
  '--nats',
  nats,
];

describe('fleet train --workers 1 --nats', () => {
  it.skipIf(!natsServerAvailable())('publishes the run events to the NATS server given, as N workers do', async () => {
    const runId = 'single-nats-1';
    const out = join(root, 'published');
    const result = await runFleet(training(out, server!.url, runId));
    expect(result.code, result.stderr).toBe(0);
    // Said once why a one-worker run starts processes.
    expect(logLines(result.stdout).filter((l) => l.msg?.toString().startsWith('--nats with --workers 1'))).toHaveLength(1);

    const { events, malformed } = await readRunEvents(server!.url, runId);
    expect(malformed).toEqual([]);
    const types = new Set(events.map((e) => e.type));
    for (const t of ['run.started', 'worker.joined', 'round', 'checkpoint', 'eval', 'run.finished']) expect(types, t).toContain(t);
    const finished = events.find((e) => e.type === 'run.finished');
    expect(finished?.data).toMatchObject({ status: 'finished' });
    // The evaluator scored the epoch's end and the run directory has the run's record.
    expect(events.some((e) => e.type === 'eval' && e.data.epochEnd)).toBe(true);
    expect(existsSync(join(out, 'metrics.jsonl'))).toBe(true);
    expect(existsSync(join(out, 'logs', 'worker-0.log'))).toBe(true);
  });

  it('an unreachable --nats fails at once naming the URL, and writes nothing', async () => {
    const url = `nats://127.0.0.1:${await freeLocalPort()}`;
    const out = join(root, 'unreachable');
    const started = Date.now();
    const result = await runFleet(training(out, url, 'single-nats-2'), { timeoutMs: 30_000 });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`fleet: --nats ${url}: cannot connect (`);
    expect(existsSync(out)).toBe(false);
  });
});
