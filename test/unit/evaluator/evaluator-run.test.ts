import { Metadata, status } from '@grpc/grpc-js';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, type AnyFleetEvent, type EventBus } from '../../../src/events/index.js';
import { evaluatorMetrics, type EvaluatorMetrics } from '../../../src/runtime/metrics/index.js';
import { samplesOf } from '../../helpers/prometheus-text.js';
import { buildModel } from '../../../src/model/index.js';
import type { ParameterSource } from '../../../services/evaluator/client/parameter-source.js';
import { IncompleteCheckpointError, runEvaluator, trainingOfCheckpoint } from '../../../services/evaluator/evaluator-run.js';
import { EVALUATOR_STATE_FILE } from '../../../services/evaluator/state/evaluator-state.js';
import { layoutLength, readWeights, weightLayout } from '../../../src/training/flat-weights.js';
import { readMetricsLines } from '../../../src/training/run-record/index.js';
import { CoordinatorRefusal, ERROR_CLASS_KEY } from '../../../src/rpc/index.js';
import { writeCifar10Files } from '../../fixtures/cifar10-files.js';
import { testConfig } from '../../helpers/test-config.js';
import { captureLog } from '../../helpers/capture-log.js';
import type { ScoreCheckpoints } from '../../../services/evaluator/checkpoint-schedule.js';
import type { Logger } from '../../../src/runtime/logger.js';

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

/**
 * Parameters per version: different seeds give different models; a missing version is refused as the coordinator does.
 * A version in `gates` is answered only once its gate is opened.
 */
function sourceOf(
  run: string,
  out: string,
  kept: Map<number, number>,
  gates: Map<number, Promise<void>> = new Map(),
): ParameterSource & { fetched: number[] } {
  const fetched: number[] = [];
  return {
    fetched,
    describe: async () => ({ runId: run, configJson: JSON.stringify(configFor(run, out)), version: 9, retainedVersions: [...kept.keys()] }),
    fetch: async (version) => {
      fetched.push(version);
      await gates.get(version);
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

async function evaluatorOnce(
  bus: EventBus,
  run: string,
  out: string,
  source: ParameterSource,
  o: { scoreCheckpoints?: ScoreCheckpoints; log?: Logger; finishedAt?: number; metrics?: EvaluatorMetrics } = {},
) {
  const events = bus.publisher(run, `evaluator:${Math.random().toString(16).slice(2, 8)}`);
  const captured = o.log ? null : captureLog();
  const ended = runEvaluator(
    {
      run,
      outDir: out,
      dataDir: null,
      backend: 'cpu',
      threads: null,
      connectTimeoutMs: 1000,
      exitWhenFinished: true,
      ...(o.scoreCheckpoints ? { scoreCheckpoints: o.scoreCheckpoints } : {}),
    },
    { bus, events, source, metrics: o.metrics ?? evaluatorMetrics({ run }) },
    o.log ?? captured!.log,
    new AbortController().signal,
  );
  // run.finished only once the evaluator follows the run: found on the bus at its start, it would end at once (a finished run).
  if (o.finishedAt !== undefined && captured) {
    const ready = () => captured.lines.some((l) => l.msg === 'evaluator ready');
    await Promise.race([until('evaluator ready', ready), ended]);
    bus.publisher(run, 'coordinator:end').publish('run.finished', { status: 'finished', version: o.finishedAt, epochs: 2, reason: null });
  }
  return ended;
}

/** The versions of the eval events on the bus, in order. */
async function evalVersions(bus: EventBus, run: string): Promise<number[]> {
  const seen: AnyFleetEvent[] = [];
  const sub = await bus.follow(run, (e) => seen.push(e), { from: 'start' });
  await sub.stop();
  return seen.filter((e) => e.type === 'eval').map((e) => (e.data as { version: number }).version);
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('the evaluator loop', () => {
  it('--score-checkpoints every: scores each checkpoint once, skips a version the coordinator no longer keeps, keeps the best, and after a restart scores nothing again', async () => {
    const run = 'evalunit';
    const out = join(root, run);
    const bus = createMemoryBus(log);
    const coordinator = bus.publisher(run, 'coordinator:test');
    coordinator.publish('checkpoint', checkpoint(3, 1, false));
    coordinator.publish('checkpoint', checkpoint(5, 1, true));
    coordinator.publish('checkpoint', checkpoint(7, 2, false)); // not kept any more: skipped
    coordinator.publish('checkpoint', checkpoint(9, 2, true));

    const source = sourceOf(
      run,
      out,
      new Map([
        [3, 11],
        [5, 12],
        [9, 13],
      ]),
    );
    expect(await evaluatorOnce(bus, run, out, source, { scoreCheckpoints: 'every', finishedAt: 9 })).toBe('finished');
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
    for (const e of seen.filter((x) => x.type === 'checkpoint')) replay.publish(e.type, e.data as never);
    const metrics = evaluatorMetrics({ run });
    expect(await evaluatorOnce(fresh, run, out, again, { scoreCheckpoints: 'every', finishedAt: 9, metrics })).toBe('finished');
    expect(again.fetched).toEqual([]);
    // Its metrics start where the state file says it is (the evaluation lag would count every version otherwise).
    const scraped = await metrics.registry.metrics();
    expect(samplesOf(scraped, 'fleet_parameter_version', 'run').get(run)).toBe(9);
    expect(samplesOf(scraped, 'fleet_test_accuracy', 'run').get(run)).toBe(evals[2]!.accuracy);
    expect(samplesOf(scraped, 'fleet_best_test_accuracy', 'run').get(run)).toBe(bestAccuracy);
    expect((await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);
    await bus.close();
    await fresh.close();
  });

  it('by default scores only epoch ends: periodic checkpoints are acknowledged and left', async () => {
    const run = 'evalepochs';
    const out = join(root, run);
    const bus = createMemoryBus(log);
    const coordinator = bus.publisher(run, 'coordinator:test');
    coordinator.publish('checkpoint', checkpoint(3, 1, false));
    coordinator.publish('checkpoint', checkpoint(5, 1, true));
    coordinator.publish('checkpoint', checkpoint(7, 2, false));
    coordinator.publish('checkpoint', checkpoint(9, 2, true));
    const source = sourceOf(run, out, new Map([3, 5, 7, 9].map((v) => [v, v + 10])));
    expect(await evaluatorOnce(bus, run, out, source, { finishedAt: 9 })).toBe('finished');
    expect(source.fetched).toEqual([5, 9]);
    expect(await evalVersions(bus, run)).toEqual([5, 9]);
    expect((await readMetricsLines(out)).map((l) => [l.epoch, l.version])).toEqual([
      [1, 5],
      [2, 9],
    ]);
    const state = JSON.parse(await readFile(join(out, EVALUATOR_STATE_FILE), 'utf8')) as { skipped: number[] };
    expect(state.skipped).toEqual([]);
    await bus.close();
  });

  it('--score-checkpoints latest: periodic checkpoints while idle, newest first; one superseded before its turn is skipped, one being scored when an epoch end arrives is given up', async () => {
    const run = 'evallatest';
    const out = join(root, run);
    const bus = createMemoryBus(log);
    const coordinator = bus.publisher(run, 'coordinator:test');
    const captured = captureLog();
    const said = (msg: string, version: number) => captured.lines.some((l) => l.msg === msg && l.version === version);
    const [three, seven] = [gate(), gate()];
    const source = sourceOf(
      run,
      out,
      new Map([3, 4, 5, 6, 7, 8].map((v) => [v, v + 10])),
      new Map([
        [3, three.opened],
        [7, seven.opened],
      ]),
    );
    const evaluator = evaluatorOnce(bus, run, out, source, { scoreCheckpoints: 'latest', log: captured.log });

    // Idle: 3 is taken at once. 4 and 5 arrive while it is scored: 5 supersedes 4.
    coordinator.publish('checkpoint', checkpoint(3, 1, false));
    await until('version 3 fetched', () => source.fetched.includes(3));
    coordinator.publish('checkpoint', checkpoint(4, 1, false));
    coordinator.publish('checkpoint', checkpoint(5, 1, false));
    await until('4 superseded', () => said('periodic checkpoint superseded by a newer one: not scored', 4));
    three.open();
    await until('5 scored', async () => (await evalVersions(bus, run)).includes(5));
    coordinator.publish('checkpoint', checkpoint(6, 1, true));
    await until('6 scored', async () => (await evalVersions(bus, run)).includes(6));

    // 7 is being scored when the epoch end 8 arrives: given up, and 8 scored.
    coordinator.publish('checkpoint', checkpoint(7, 2, false));
    await until('version 7 fetched', () => source.fetched.includes(7));
    coordinator.publish('checkpoint', checkpoint(8, 2, true));
    await until('7 given up', () => said('periodic checkpoint given up for an epoch end', 7));
    seven.open();
    coordinator.publish('run.finished', { status: 'finished', version: 8, epochs: 2, reason: null });
    expect(await evaluator).toBe('finished');

    expect(source.fetched).toEqual([3, 5, 6, 7, 8]);
    expect(await evalVersions(bus, run)).toEqual([3, 5, 6, 8]);
    expect(captured.lines.filter((l) => l.msg === 'checkpoint evaluated').map((l) => l.version)).toEqual([3, 5, 6, 8]);
    expect((await readMetricsLines(out)).map((l) => [l.epoch, l.version])).toEqual([
      [1, 6],
      [2, 8],
    ]);
    expect(captured.lines.filter((l) => l.level >= 50)).toEqual([]);
    await bus.close();
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
