import { classify, isUnavailable } from '../../src/rpc/classify.js';
import { CoordinatorRefusal } from '../../src/rpc/coordinator-refusals.js';
import * as tf from '@tensorflow/tfjs';
import { availableParallelism, getPriority } from 'node:os';
import { selectBackend, setOnednnThreads } from '../../src/compute/index.js';
import { allowedCpus } from '../../src/runtime/allowed-cpus.js';
import { parseTrainConfig, type BackendChoice, type TrainConfig } from '../../src/runtime/config/train-config.js';
import { loadCifar10Split, readClassNames, resolveBatchesDir } from '../../src/dataset/index.js';
import type { AnyFleetEvent, EventBus, EventPayloads, EventPublisher } from '../../src/events/index.js';
import type { EvaluatorMetrics } from '../../src/runtime/metrics/index.js';
import { buildModel } from '../../src/model/index.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { ServiceEnd } from '../../src/runtime/stopped-exit.js';
import { retryWithBackoff } from '../../src/runtime/retry.js';
import { checkOutDir } from '../../src/runtime/out-dir.js';
import { scoreTestSet } from '../../src/training/evaluate.js';
import { weightLayout } from '../../src/training/flat-weights.js';
import { bestModelMeta, epochTrainingSchema, metricsLine, openRunRecord, type EpochTraining } from '../../src/training/run-record/index.js';
import type { ParameterSource } from './client/parameter-source.js';
import { EvaluatorStateFile } from './state/evaluator-state.js';
import { readableScore } from '../../src/training/run-record/score-tables.js';
import { CheckpointSchedule, type ScoreCheckpoints } from './checkpoint-schedule.js';
import { DiskWrites, WriteFailedError, type WriteFailure } from '../../src/runtime/disk-writes.js';
import { METRICS_JSONL } from '../../src/runtime/run-dir.js';
import { join } from 'node:path';

export interface EvaluatorOptions {
  run: string;
  /** The run directory (best/, metrics.jsonl, evaluator-state.json); default the run's --out. */
  outDir: string | null;
  dataDir: string | null;
  backend: BackendChoice | null;
  /** Native kernel threads on this machine; null: all this process may use. */
  threads: number | null;
  /** How long an unreachable coordinator is waited for before a version is skipped. */
  connectTimeoutMs: number;
  /** Exit once run.finished is seen (default), or keep following. */
  exitWhenFinished: boolean;
  /** Which checkpoints are scored (checkpoint-schedule.ts); default epoch-ends. */
  scoreCheckpoints?: ScoreCheckpoints;
}

/** An epoch-end checkpoint event without the epoch's training (a coordinator older than this evaluator). */
export class IncompleteCheckpointError extends FleetError {
  constructor(
    readonly version: number,
    readonly reason: string,
  ) {
    super(`the epoch-end checkpoint event of version ${version} cannot make a metrics line: ${reason}`);
  }
}

/** The epoch's training as the coordinator sent it with its epoch-end checkpoint: the first half of the metrics line. */
export function trainingOfCheckpoint(c: EventPayloads['checkpoint']): EpochTraining {
  const parsed = epochTrainingSchema.safeParse({
    epoch: c.epoch,
    step: c.globalStep,
    lr: c.lr,
    trainLoss: c.trainLoss,
    trainAccuracy: c.trainAccuracy,
    trainSamples: c.trainSamples,
    epochSeconds: c.epochSeconds,
    imagesPerSecond: c.imagesPerSecond,
    workers: c.workers ?? undefined,
    version: c.version,
  });
  if (!parsed.success)
    throw new IncompleteCheckpointError(c.version, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

/**
 * The evaluator: follows the run's checkpoint events with a durable
 * consumer, fetches each version from the coordinator, scores the whole test
 * set once per version, keeps the best model, and publishes the result.
 * Every step is idempotent (evaluator-state.json, event ids per version), so
 * a crash at any point, or an event delivered twice, scores nothing twice.
 */
export async function runEvaluator(
  o: EvaluatorOptions,
  deps: { bus: EventBus; events: EventPublisher; source: ParameterSource; metrics: EvaluatorMetrics },
  log: Logger,
  signal: AbortSignal,
): Promise<ServiceEnd> {
  // A restarted evaluator (a pod, a Job's retry) of a run that has ended: its coordinator may be gone for good.
  if (o.exitWhenFinished) {
    const end = await deps.bus.runEnd(o.run);
    if (end?.status === 'finished') {
      log.info({ version: end.version, epochs: end.epochs }, 'run already finished: nothing to evaluate');
      return 'finished';
    }
  }
  let described: Awaited<ReturnType<ParameterSource['describe']>>;
  try {
    described = await retryWithBackoff({ what: 'describe run', timeoutMs: o.connectTimeoutMs, retriable: isUnavailable, log, signal }, () =>
      deps.source.describe(),
    );
  } catch (err) {
    if (signal.aborted && isUnavailable(err)) return 'stopped';
    throw err;
  }
  if (described.runId !== o.run) throw new FleetError(`the coordinator runs ${described.runId}, not ${o.run}`);
  const config: TrainConfig = parseTrainConfig(JSON.parse(described.configJson) as Record<string, unknown>);
  const runDir = o.outDir ?? config.outDir;
  // Before the data is loaded: a run directory this machine cannot write is said at once (--out, default the run's).
  await checkOutDir(runDir, { mode: 'shared' });
  const backend = await selectBackend(o.backend ?? config.backend, log, { threads: o.threads });
  const cpus = allowedCpus()?.length ?? availableParallelism();
  /**
   * Kernel threads for a version: the run's last epoch end is scored with
   * every CPU this process may use (its workers are done: the end of
   * training to the final score), others with --threads (beside them).
   */
  const threadsFor = (c: EventPayloads['checkpoint']) =>
    backend.name === 'onednn' && backend.threads !== undefined && c.epochEnd && c.epoch >= config.epochs
      ? Math.max(backend.threads, cpus)
      : backend.threads;
  // The test split only: an evaluator machine needs no training data.
  const dir = await resolveBatchesDir(o.dataDir ?? config.dataDir);
  const data = {
    test: await loadCifar10Split({ dir, split: 'test', allowPartial: config.allowPartial, limit: config.limitTest ?? undefined }),
    classNames: await readClassNames(dir),
  };
  const record = await openRunRecord(runDir);
  const bestDir = record.bestDir;
  const state = await EvaluatorStateFile.open(runDir, o.run);
  // A restarted evaluator reports where it is from the start: otherwise its version reads 0 until the next score,
  // and the evaluation lag (rule fleet:evaluation_lag_versions) would count every version of the run as waiting.
  const latest = state.latest;
  if (latest) {
    deps.metrics.parameterVersion.set(latest.version);
    deps.metrics.testAccuracy.set(latest.accuracy);
    deps.metrics.testLoss.set(latest.loss);
  }
  if (state.best) deps.metrics.bestTestAccuracy.set(state.best.accuracy);
  const model = buildModel({ name: config.model, seed: config.seed, stem: config.stem });
  const layout = weightLayout(model);
  const scoreCheckpoints = o.scoreCheckpoints ?? 'epoch-ends';
  // nice: its OS priority (the local launcher lowers it where it shares the workers' CPUs).
  log.info(
    { testSamples: data.test.count, runDir, evaluated: state.evaluatedCount, scoreCheckpoints, nice: getPriority() },
    'evaluator ready',
  );

  // A full disk (ENOSPC, EIO...): the previous file stays, the failure is logged, counted and published, scoring goes on.
  const writes = new DiskWrites(log, (f) => {
    deps.metrics.writeFailures.inc({ what: f.what });
    const { what, path, code, message, consecutive, round, epoch } = f;
    deps.events.publish('run.write_failed', { what, path, code, message: message.slice(0, 2000), consecutive, round, epoch });
  });
  const metricsPath = join(record.path, METRICS_JSONL);
  const writeLine = (line: NonNullable<ReturnType<typeof state.metricsLine>>) =>
    writes.attempt('metrics', metricsPath, { epoch: line.epoch }, () => record.recordEpoch(line));

  const publish = async (e: EventPayloads['eval']) => {
    deps.events.publish('eval', e, { msgId: `eval:${o.run}:${e.version}` });
    if (e.best)
      deps.events.publish(
        'best',
        { version: e.version, epoch: e.epoch, accuracy: e.accuracy, path: bestDir },
        { msgId: `best:${o.run}:${e.version}` },
      );
    // Acknowledged only once stored: a crash before this re-does the step, never loses it.
    await deps.events.flush();
  };

  /** Scores a version once, or publishes its recorded result again; `giveUp` ends a periodic one's scoring early. */
  const onCheckpoint = async (c: EventPayloads['checkpoint'], giveUp?: AbortSignal) => {
    const done = state.evaluation(c.version);
    if (done) {
      log.info({ version: c.version }, 'checkpoint already evaluated: its result published again (stored once)');
      // A crash between the state and metrics.jsonl loses no line: writing it again replaces it.
      const line = state.metricsLine(c.version);
      // Redelivered because the disk refused its result (see below): written now, or the event comes again.
      const stateFailed =
        writes.consecutive('evaluator-state') > 0
          ? await writes.attempt('evaluator-state', state.path, { epoch: c.epoch }, () => state.flush())
          : null;
      const lineFailed = line ? await writeLine(line) : null;
      await publish(done);
      if (stateFailed || lineFailed) throw notStored(c.version, (stateFailed ?? lineFailed)!);
      return;
    }
    if (state.isSkipped(c.version)) return;
    let values: Float32Array;
    try {
      values = await retryWithBackoff(
        { what: `fetch version ${c.version}`, timeoutMs: o.connectTimeoutMs, retriable: isUnavailable, log, signal },
        () => deps.source.fetch(c.version, layout),
      );
    } catch (err) {
      // Stopping: the version is neither scored nor skipped; its event comes again to the restarted evaluator.
      if (signal.aborted) throw err;
      if (classify(err)?.errorClass === CoordinatorRefusal.VersionUnavailable || isUnavailable(err)) {
        log.warn(
          { version: c.version, epoch: c.epoch, err: (err as Error).message },
          "checkpoint version can no longer be fetched from the coordinator: skipped (raise the coordinator's --keep-versions if the evaluator falls behind)",
        );
        deps.metrics.versionsSkipped.inc();
        await writes.attempt('evaluator-state', state.path, { epoch: c.epoch }, () => state.recordSkip(c.version));
        return;
      }
      throw err;
    }
    const training = c.epochEnd ? trainingOfCheckpoint(c) : null;
    const started = performance.now();
    const threads = threadsFor(c);
    if (threads !== backend.threads) setOnednnThreads(threads!);
    let evaluation: Awaited<ReturnType<typeof scoreTestSet>>;
    try {
      evaluation = await scoreTestSet(model, data.test, {
        batchSize: config.evalBatchSize,
        weights: { layout, values },
        ...(giveUp ? { signal: giveUp } : {}),
      });
    } finally {
      if (threads !== backend.threads) setOnednnThreads(backend.threads!);
    }
    const evalMs = performance.now() - started;
    // Best only once best/ holds it: a best/ the disk refused leaves the previous one, and a later version may beat that.
    let isBest = evaluation.accuracy > (state.best?.accuracy ?? -1);
    if (isBest) {
      const meta = bestModelMeta({
        config,
        classNames: data.classNames,
        evaluation,
        epoch: c.epoch,
        step: c.globalStep,
        version: c.version,
      });
      if (await writes.attempt('best', bestDir, { epoch: c.epoch }, () => record.saveBest(model, meta))) isBest = false;
    }
    const result: EventPayloads['eval'] = {
      version: c.version,
      epoch: c.epoch,
      globalStep: c.globalStep,
      epochEnd: c.epochEnd,
      accuracy: evaluation.accuracy,
      loss: evaluation.loss,
      samples: evaluation.count,
      perClassAccuracy: evaluation.perClassAccuracy,
      confusion: evaluation.confusion,
      evalMs,
      best: isBest,
    };
    // The line a coordinator scoring by itself, or a one-process run, writes at an epoch end.
    const line = training ? metricsLine(training, evaluation) : null;
    const stateFailed = await writes.attempt('evaluator-state', state.path, { epoch: c.epoch }, () => state.recordEvaluation(result, line));
    const lineFailed = line ? await writeLine(line) : null;
    deps.metrics.evaluations.inc();
    deps.metrics.evaluationSeconds.observe(evalMs / 1000);
    deps.metrics.testAccuracy.set(evaluation.accuracy);
    deps.metrics.testLoss.set(evaluation.loss);
    deps.metrics.parameterVersion.set(c.version);
    deps.metrics.lastEvaluationTimestamp.set(Date.now() / 1000);
    if (state.best) deps.metrics.bestTestAccuracy.set(state.best.accuracy);
    log.info(
      {
        version: c.version,
        epoch: c.epoch,
        accuracy: evaluation.accuracy,
        loss: evaluation.loss,
        best: isBest,
        evalMs: Math.round(evalMs),
        ...(threads !== undefined ? { threads } : {}),
        ...readableScore({ ...evaluation, classNames: data.classNames }),
      },
      'checkpoint evaluated',
    );
    await publish(result);
    // Not acknowledged while its result is only in memory: a crash (kill -9) before the disk takes it would lose the
    // score for good, as the event would not come again. The handler's failure makes it come again (a backed-off
    // redelivery, later events waiting behind it); it is then written, not scored again.
    if (stateFailed || lineFailed) throw notStored(c.version, (stateFailed ?? lineFailed)!);
  };
  const schedule = new CheckpointSchedule({
    mode: scoreCheckpoints,
    isDone: (version) => state.evaluation(version) !== undefined,
    score: onCheckpoint,
    log,
  });

  let finish!: (how: ServiceEnd) => void;
  const ended = new Promise<ServiceEnd>((resolve) => {
    finish = resolve;
  });
  // With --keep-running only a signal ends the evaluator: after the run's last event said finished, that stop is not
  // 'stopped' (--stopped-exit-code); a checkpoint after it (the run extended) makes the run go on again.
  let runOver = false;
  const subscription = await deps.bus.consume(o.run, ['checkpoint', 'run.finished'], `evaluator-${o.run}`, async (e: AnyFleetEvent) => {
    if (e.type === 'checkpoint') {
      runOver = false;
      await schedule.onCheckpoint(e.data as EventPayloads['checkpoint']);
    } else if (e.type === 'run.finished') {
      const f = e.data as EventPayloads['run.finished'];
      log.info({ status: f.status, version: f.version }, 'run finished');
      runOver = f.status === 'finished';
      // 'stopped': a restarted coordinator resumes the run, and this evaluator goes on with it.
      if (o.exitWhenFinished && f.status === 'finished') finish('finished');
    }
  });
  // Once stopped, the version in hand is finished (subscription.stop() waits for its handler), then the evaluator exits.
  const onAbort = () => finish(runOver ? 'finished' : 'stopped');
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  let end: ServiceEnd;
  try {
    end = await ended;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await subscription.stop();
    await schedule.close();
    model.dispose();
    tf.disposeVariables();
  }
  await retryRefusedWrites(state, writes, (line) => writeLine(line));
  return end;
}

/** The event of a version whose result the disk refused: it comes again until the result is written. */
function notStored(version: number, failure: WriteFailure): WriteFailedError {
  return new WriteFailedError(failure.what, failure.path, failure.code, `the result of version ${version} (the event comes again)`);
}

/**
 * Before the evaluator exits: the state and metrics lines a full disk refused are written once more (the disk
 * may have space again). Still refused: the evaluator fails, naming the file and the errno; a restarted one
 * scores from the state file it finds (best/ keeps the last model it could write).
 */
async function retryRefusedWrites(
  state: EvaluatorStateFile,
  writes: DiskWrites,
  writeLine: (line: NonNullable<EvaluatorStateFile['lastMetricsLine']>) => Promise<WriteFailure | null>,
): Promise<void> {
  if (writes.consecutive('evaluator-state') > 0) {
    const failed = await writes.attempt('evaluator-state', state.path, {}, () => state.flush());
    if (failed) throw new WriteFailedError(failed.what, failed.path, failed.code, 'the evaluator state at exit');
  }
  const line = state.lastMetricsLine;
  if (line && writes.consecutive('metrics') > 0) {
    // Any write of metrics.jsonl carries the lines refused before it.
    const failed = await writeLine(line);
    if (failed) throw new WriteFailedError(failed.what, failed.path, failed.code, 'the metrics lines at exit');
  }
}
