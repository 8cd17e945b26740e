import { Metadata, status } from '@grpc/grpc-js';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, type AnyFleetEvent, type EventBus } from '../../../src/events/index.js';
import { evaluatorMetrics } from '../../../src/runtime/metrics/index.js';
import { buildModel } from '../../../src/model/index.js';
import type { ParameterSource } from '../../../services/evaluator/client/parameter-source.js';
import { IncompleteCheckpointError, runEvaluator, trainingOfCheckpoint } from '../../../services/evaluator/evaluator-run.js';
import { EVALUATOR_STATE_FILE } from '../../../services/evaluator/state/evaluator-state.js';
import { layoutLength, readWeights, weightLayout } from '../../../src/training/flat-weights.js';
import { readMetricsLines } from '../../../src/training/run-record/index.js';
import { CoordinatorRefusal, ERROR_CLASS_KEY } from '../../../src/rpc/index.js';
import { writeCifar10Files } from '../../fixtures/cifar10-files.js';
import { testConfig } from '../../helpers/test-config.js';

/**
 * The evaluator's loop over the in-process bus, with the coordinator's
 * parameter reads played by a table of versions (some no longer kept).
 */
const log = pino({ level: 'silent' });
let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-evaluator-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 8, testCount: 37, pattern: 'learnable', seed: 3 });
  await tf.setBackend('cpu');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function configFor(run: string, out: string) {
  return testConfig({ runId: run, workers: 2, epochs: 2, lr: 0.1, seed: 4, dataDir, outDir: out, evalBatchSize: 10 });
}

/** The refusal as a client receives it: the code, and the error class in trailing metadata. */
function versionUnavailable(version: number): Error {
  const metadata = new Metadata();
  metadata.set(ERROR_CLASS_KEY, CoordinatorRefusal.VersionUnavailable);
  return Object.assign(new Error(`parameter version ${version} is not available`), { code: status.FAILED_PRECONDITION, metadata });
}

/** Parameters per version: different seeds give different models; a missing version is refused as the coordinator does. */
function sourceOf(run: string, out: string, kept: Map<number, number>): ParameterSource & { fetched: number[] } {
  const fetched: number[] = [];
  return {
    fetched,
    describe: async () => ({ runId: run, configJson: JSON.stringify(configFor(run, out)), version: 9, retainedVersions: [...kept.keys()] }),
    fetch: async (version) => {
      fetched.push(version);
      const seed = kept.get(version);
      if (seed === undefined) throw versionUnavailable(version);
      const model = buildModel({ name: 'tiny', seed });
      const layout = weightLayout(model);
      const values = readWeights(model, layout, new Float32Array(layoutLength(layout)));
      model.dispose();
      return values;
    },
    close: () => {},
  };
}

const checkpoint = (version: number, epoch: number, epochEnd: boolean) => ({
  version,
  round: version,
  epoch,
  globalStep: version,
  epochEnd,
  trainLoss: epochEnd ? 1.5 : null,
  trainAccuracy: epochEnd ? 0.4 : null,
  trainSamples: epochEnd ? 8 : null,
  lr: epochEnd ? 0.05 : null,
  epochSeconds: epochEnd ? 2 : null,
  imagesPerSecond: epochEnd ? 4 : null,
  workers: epochEnd ? 2 : null,
});

async function evaluatorOnce(bus: EventBus, run: string, out: string, source: ParameterSource) {
  const events = bus.publisher(run, `evaluator:${Math.random().toString(16).slice(2, 8)}`);
  return runEvaluator(
    { run, outDir: out, dataDir: null, backend: 'cpu', threads: null, connectTimeoutMs: 1000, exitWhenFinished: true },
    { bus, events, source, metrics: evaluatorMetrics({ run }) },
    log,
    new AbortController().signal,
  );
}

describe('the evaluator loop', () => {
  it('scores each checkpoint once, skips a version the coordinator no longer keeps, keeps the best, and after a restart scores nothing again', async () => {
    const run = 'evalunit';
    const out = join(root, run);
    const bus = createMemoryBus(log);
    const coordinator = bus.publisher(run, 'coordinator:test');
    coordinator.publish('checkpoint', checkpoint(3, 1, false));
    coordinator.publish('checkpoint', checkpoint(5, 1, true));
    coordinator.publish('checkpoint', checkpoint(7, 2, false)); // not kept any more: skipped
    coordinator.publish('checkpoint', checkpoint(9, 2, true));
    coordinator.publish('run.finished', { status: 'finished', version: 9, epochs: 2, reason: null });

    const source = sourceOf(
      run,
      out,
      new Map([
        [3, 11],
        [5, 12],
        [9, 13],
      ]),
    );
    expect(await evaluatorOnce(bus, run, out, source)).toBe('finished');
    expect(source.fetched).toEqual([3, 5, 7, 9]);

    const seen: AnyFleetEvent[] = [];
    const sub = await bus.follow(run, (e) => seen.push(e), { from: 'start' });
    await sub.stop();
    const evals = seen
      .filter((e) => e.type === 'eval')
      .map(
        (e) =>
          e.data as {
            version: number;
            accuracy: number;
            samples: number;
            best: boolean;
            perClassAccuracy: number[];
            confusion: number[][];
          },
      );
    expect(evals.map((e) => e.version)).toEqual([3, 5, 9]);
    expect(
      evals.every((e) => e.samples === 37 && e.perClassAccuracy.length === 10 && e.confusion.flat().reduce((a, b) => a + b, 0) === 37),
    ).toBe(true);
    const bestAccuracy = Math.max(...evals.map((e) => e.accuracy));
    const bests = seen.filter((e) => e.type === 'best').map((e) => e.data as { version: number; accuracy: number });
    expect(bests.at(-1)!.accuracy).toBe(bestAccuracy);
    const meta = JSON.parse(await readFile(join(out, 'best', 'meta.json'), 'utf8')) as { accuracy: number; version: number };
    expect(meta).toMatchObject({ accuracy: bestAccuracy, version: bests.at(-1)!.version });

    // Epoch-end checkpoints give the metrics lines of a one-process run (the one schema), plus workers and version.
    const lines = await readMetricsLines(out);
    expect(lines.map((l) => [l.epoch, l.version])).toEqual([
      [1, 5],
      [2, 9],
    ]);
    expect(lines[0]).toMatchObject({
      step: 5,
      lr: 0.05,
      trainLoss: 1.5,
      trainAccuracy: 0.4,
      trainSamples: 8,
      epochSeconds: 2,
      imagesPerSecond: 4,
      workers: 2,
      testAccuracy: evals[1]!.accuracy,
      confusion: evals[1]!.confusion,
    });
    const state = JSON.parse(await readFile(join(out, EVALUATOR_STATE_FILE), 'utf8')) as { skipped: number[] };
    expect(state.skipped).toEqual([7]);

    // A restarted evaluator given every event again (a new durable) fetches and scores nothing.
    const again = sourceOf(
      run,
      out,
      new Map([
        [3, 11],
        [5, 12],
        [9, 13],
      ]),
    );
    const fresh = createMemoryBus(log);
    const replay = fresh.publisher(run, 'coordinator:test');
    for (const e of seen.filter((x) => x.type === 'checkpoint' || x.type === 'run.finished')) replay.publish(e.type, e.data as never);
    expect(await evaluatorOnce(fresh, run, out, again)).toBe('finished');
    expect(again.fetched).toEqual([]);
    expect((await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);
    await bus.close();
    await fresh.close();
  });

  it("refuses to make a metrics line of an epoch-end checkpoint that lacks the epoch's training, naming the version and field", () => {
    const { lr: _lr, ...withoutLr } = checkpoint(5, 1, true);
    expect(() => trainingOfCheckpoint(withoutLr)).toThrow(IncompleteCheckpointError);
    expect(() => trainingOfCheckpoint(withoutLr)).toThrow(/version 5.*lr/);
    expect(trainingOfCheckpoint(checkpoint(5, 1, true))).toMatchObject({ epoch: 1, step: 5, lr: 0.05, version: 5, workers: 2 });
  });

  it('refuses a state file of another run, naming the file', async () => {
    const out = join(root, 'evalunit');
    const bus = createMemoryBus(log);
    await expect(evaluatorOnce(bus, 'otherrun', out, sourceOf('otherrun', out, new Map()))).rejects.toThrow(
      /evaluator-state\.json.*belongs to run evalunit, not otherrun/,
    );
    await bus.close();
  });
});
