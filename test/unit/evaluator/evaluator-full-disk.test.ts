import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, type AnyFleetEvent, type EventBus } from '../../../src/events/index.js';
import { WriteFailedError } from '../../../src/runtime/disk-writes.js';
import { evaluatorMetrics } from '../../../src/runtime/metrics/index.js';
import { buildModel } from '../../../src/model/index.js';
import type { ParameterSource } from '../../../services/evaluator/client/parameter-source.js';
import { runEvaluator } from '../../../services/evaluator/evaluator-run.js';
import { EVALUATOR_STATE_FILE } from '../../../services/evaluator/state/evaluator-state.js';
import { layoutLength, readWeights, weightLayout } from '../../../src/training/flat-weights.js';
import { writeCifar10Files } from '../../fixtures/cifar10-files.js';
import { captureLog } from '../../helpers/capture-log.js';
import { samplesOf } from '../../helpers/prometheus-text.js';
import { mountSmallTmpfs, type SmallTmpfs } from '../../helpers/small-tmpfs.js';
import { testConfig } from '../../helpers/test-config.js';
import { until } from '../../helpers/wait.js';

/**
 * The evaluator's writes on a full disk, in process (memory bus, versions from a table): its --out is a small
 * tmpfs the test fills between two checkpoints. What a later write cannot carry is written at its exit, or the
 * evaluator fails naming the file and the errno.
 */
const mounted = await mountSmallTmpfs('evaluator-full-disk', 1024);
const skip = 'skip' in mounted ? mounted.skip : null;
if (skip) console.log(`evaluator full-disk tests skipped: ${skip}`);
const disk = mounted as SmallTmpfs;
let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-evaluator-disk-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 8, testCount: 20, pattern: 'learnable', seed: 3 });
  await tf.setBackend('cpu');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  if (!skip) await disk.unmount();
});

function sourceOf(run: string, out: string): ParameterSource {
  const config = testConfig({ runId: run, workers: 2, epochs: 2, lr: 0.1, seed: 4, dataDir, outDir: out, evalBatchSize: 10 });
  return {
    describe: async () => ({ runId: run, configJson: JSON.stringify(config), version: 9, retainedVersions: [5, 9] }),
    fetch: async (version) => {
      const model = buildModel({ name: 'tiny', seed: version });
      const values = readWeights(model, weightLayout(model), new Float32Array(layoutLength(weightLayout(model))));
      model.dispose();
      return values;
    },
    close: () => {},
  };
}

const epochEnd = (version: number, epoch: number) => ({
  version,
  round: version,
  epoch,
  globalStep: version,
  epochEnd: true,
  trainLoss: 1.5,
  trainAccuracy: 0.4,
  trainSamples: 8,
  lr: 0.05,
  epochSeconds: 2,
  imagesPerSecond: 4,
  workers: 2,
});

/** Starts the evaluator on `out`, with epoch 1 scored and written before it returns. */
async function started(bus: EventBus, run: string, out: string) {
  const { log, lines } = captureLog();
  const stop = new AbortController();
  const metrics = evaluatorMetrics({ run });
  const coordinator = bus.publisher(run, 'coordinator:test');
  coordinator.publish('checkpoint', epochEnd(5, 1));
  const ended = runEvaluator(
    { run, outDir: out, dataDir: null, backend: 'cpu', threads: null, connectTimeoutMs: 1000, exitWhenFinished: true },
    { bus, events: bus.publisher(run, 'evaluator:test'), source: sourceOf(run, out), metrics },
    log,
    stop.signal,
  );
  ended.catch(() => {});
  await until('epoch 1 evaluated', () => lines.some((l) => l.msg === 'checkpoint evaluated'), 20_000);
  return { lines, metrics, coordinator, ended, stop };
}

const stateVersions = async (out: string) =>
  Object.keys((JSON.parse(await readFile(join(out, EVALUATOR_STATE_FILE), 'utf8')) as { evaluated: object }).evaluated);
const metricsEpochs = async (out: string) =>
  (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { epoch: number }).epoch);

describe.skipIf(skip !== null)('the evaluator on a full disk (tmpfs)', () => {
  it('refuses to lose what it scored: the state and line refused while full are written at its exit once there is space', async () => {
    const run = 'fulldisk1';
    const out = join(disk.dir, run);
    // The refused event comes again after 5 s: after the checks below, which see its first attempt only.
    const bus = createMemoryBus(pino({ level: 'silent' }), { redeliveryDelayMs: 5000 });
    const e = await started(bus, run, out);
    await disk.fill();
    e.coordinator.publish('checkpoint', epochEnd(9, 2));
    await until('metrics refused', () => e.lines.some((l) => l.msg?.startsWith('metrics not written (ENOSPC)')), 20_000);
    // Scored and published, not written: the files are epoch 1's.
    expect(await stateVersions(out)).toEqual(['5']);
    expect(await metricsEpochs(out)).toEqual([1]);
    const refused = e.lines.filter((l) => l.msg?.includes('not written (ENOSPC)')).map((l) => l.what);
    expect(refused).toEqual(expect.arrayContaining(['evaluator-state', 'metrics']));
    const counted = samplesOf(await e.metrics.registry.metrics(), 'fleet_write_failures_total', 'what');
    expect(counted.get('evaluator-state')).toBe(1);
    expect(counted.get('metrics')).toBe(1);

    await disk.free();
    e.coordinator.publish('run.finished', { status: 'finished', version: 9, epochs: 2, reason: null });
    expect(await e.ended).toBe('finished');
    expect((await stateVersions(out)).sort()).toEqual(['5', '9']);
    expect(await metricsEpochs(out)).toEqual([1, 2]);
    const seen: AnyFleetEvent[] = [];
    await (await bus.follow(run, (ev) => seen.push(ev), { from: 'start' })).stop();
    const published = seen.filter((ev) => ev.type === 'run.write_failed').map((ev) => ev.data as { what: string; code: string });
    expect(published.map((d) => d.what)).toEqual(refused);
    expect(published.every((d) => d.code === 'ENOSPC')).toBe(true);
    expect(seen.filter((ev) => ev.type === 'eval').map((ev) => (ev.data as { version: number }).version)).toEqual([5, 9]);
  }, 60_000);

  it("still full: the refused result keeps its event unacknowledged (it comes again, the run's end waits behind it); stopped, it fails naming the state file and ENOSPC, the file on disk whole (epoch 1)", async () => {
    const run = 'fulldisk2';
    const out = join(disk.dir, run);
    const bus = createMemoryBus(pino({ level: 'silent' }), { redeliveryDelayMs: 200 });
    const e = await started(bus, run, out);
    await disk.fill();
    e.coordinator.publish('checkpoint', epochEnd(9, 2));
    await until('metrics refused', () => e.lines.some((l) => l.msg?.startsWith('metrics not written (ENOSPC)')), 20_000);
    e.coordinator.publish('run.finished', { status: 'finished', version: 9, epochs: 2, reason: null });
    // Acknowledged, the event would be gone: a kill -9 now would lose epoch 2's score for good. It comes again instead
    // (written then, not scored again), and run.finished waits behind it: the evaluator does not end.
    await until(
      'the refused event redelivered',
      () => e.lines.filter((l) => l.msg?.startsWith('checkpoint already evaluated')).length >= 2,
      20_000,
    );
    expect(e.lines.filter((l) => l.msg === 'checkpoint evaluated').length).toBe(2);
    let ended = false;
    const mark = () => {
      ended = true;
    };
    e.ended.then(mark, mark);
    await new Promise((r) => setTimeout(r, 300));
    expect(ended).toBe(false);
    e.stop.abort();
    const err = await e.ended.catch((x: unknown) => x);
    expect(err).toBeInstanceOf(WriteFailedError);
    expect((err as WriteFailedError).message).toContain(`cannot write the evaluator-state ${join(out, EVALUATOR_STATE_FILE)} (ENOSPC)`);
    expect(await stateVersions(out)).toEqual(['5']);
    expect(await metricsEpochs(out)).toEqual([1]);
    await disk.free();
  }, 60_000);
});
