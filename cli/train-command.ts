import { Command, type Option } from 'commander';
import { join } from 'node:path';
import {
  AUGMENT_CHOICES,
  BACKEND_CHOICES,
  BALANCE_CHOICES,
  COMPRESS_CHOICES,
  LR_SCALING_CHOICES,
  STEM_CHOICES,
  MODEL_CHOICES,
  PROGRESS_CHOICES,
  TEST_MODEL_CHOICES,
  parseTrainConfig,
  type TrainConfig,
} from '../src/runtime/config/train-config.js';
import { NATS_AUTH_VARIABLES, type NatsAuth, serviceIoFrom, type ServiceIo } from '../src/runtime/config/service-io.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { newRunId } from '../src/runtime/run-dir.js';
import { ClusterFailedError, runLocalCluster, workerProcessName } from '../services/launcher/local-cluster.js';
import { ChildLogs } from '../services/launcher/child-logs.js';
import { ClusterView, viewModeOf } from '../services/launcher/cluster-view.js';
import { summarizeRun } from '../services/launcher/run-summary.js';
import { findTaskset, workerCpuSets, workerThreads } from '../services/launcher/cpu-sets.js';
import { evaluatorNiceness } from '../services/launcher/evaluator-priority.js';
import { scoreCheckpointsOpt } from './evaluator-command.js';
import { allowedCpus } from '../src/runtime/allowed-cpus.js';
import { SINGLE_THREADED_GC_CHOICES, cpuCount, gcNodeFlags, type SingleThreadedGc } from '../services/launcher/gc-threads.js';
import { addConfigFileOption, originOf, resolvedFlags } from './config-stages.js';
import { choicesOf, durationOpt, opt, threadsOpt } from './option.js';
import { parseInteger, parseNumber, parseWorkerCount } from './parse-flag.js';
import { addNatsOptions } from './service-options.js';
import type { Logger } from '../src/runtime/logger.js';
import { downloadIfAsked, requireCifar10Files } from '../src/dataset/index.js';
import { InterruptedError } from '../src/training/errors.js';
import { checkpointEveryOpt, finishedAlready, resumeFrom, resumeOpt } from './resume-option.js';
import { checkRunOut, overwriteOpt } from './out-dir-options.js';
import { clearRunFiles } from '../src/runtime/out-dir.js';
import { FleetError } from '../src/runtime/errors.js';
import { checkPretrained } from './pretrained-option.js';
import { gpusOpt, setPlannedWorkers, workerPlanner } from './worker-plan-option.js';
import { processEnvOf, type WorkerPlan } from '../services/launcher/worker-plan.js';
import { isWorkerRange, workersRangeOpt } from './workers-option.js';

/** Where `fleet train` looks for CIFAR-10 unless told otherwise. */
export const DEFAULT_DATA_DIR = 'data/cifar10';

/**
 * `fleet train`: every flag can also come from a FLEET_* variable (flag wins),
 * so a Kubernetes manifest or a sweep script sets them either way.
 */
export function trainCommand(): Command {
  return addConfigFileOption(addNatsOptions(addTrainingOptions(new Command('train'), { workersAuto: true })))
    .addOption(gpusOpt())
    .addOption(
      opt(
        '--pin-workers <mode>',
        'on: with --workers N, each worker on its own CPUs (taskset; needs at least N); off: where the OS puts them',
        'FLEET_PIN_WORKERS',
      )
        .choices(['on', 'off'])
        .default('off'),
    )
    .addOption(
      opt(
        '--single-threaded-gc <mode>',
        "with --workers N, node's --single-threaded-gc for the processes started; auto: when they outnumber the CPUs",
        'FLEET_SINGLE_THREADED_GC',
      )
        .choices(SINGLE_THREADED_GC_CHOICES)
        .default('auto'),
    )
    .addOption(
      durationOpt(
        '--stop-grace <duration>',
        'with --workers N: how long the processes started get to stop after SIGTERM before SIGKILL',
        'FLEET_STOP_GRACE',
        10_000,
      ),
    )
    .addOption(scoreCheckpointsOpt('with --workers N (or --nats), what the evaluator scores: '))
    .addOption(resumeOpt())
    .addOption(overwriteOpt())
    .addOption(checkpointEveryOpt('optimizer steps (with --workers N: rounds of --sync-every steps, rounded up)', 200))
    .addOption(
      opt(
        '--verbose',
        "with --workers N (or --nats): the processes' own log lines on the terminal too (they always go to <out>/logs/)",
        'FLEET_VERBOSE',
      ).default(false),
    )
    .description(
      'Train a model on CIFAR-10: in this process for --workers 1, else (or with --nats) a local coordinator, N worker processes and an evaluator',
    )
    .action(async (flags: Record<string, unknown>, command: Command) => {
      // --workers auto and --gpus become a number of workers (and each one's GPU) before the run config is read.
      const planFor = workerPlanner(flags, command);
      setPlannedWorkers(command, planFor(null));
      const fromFlags = trainConfigFrom(flags, command);
      // Before any download, data or process: a bad or occupied --out is refused with nothing written.
      const outMode = await checkRunOut(flags, fromFlags.outDir);
      // Resumed: the run keys are the checkpoint's (its global batch too), and its writer continues it.
      const point = await resumeFrom(flags, command, fromFlags);
      const config = point?.config ?? fromFlags;
      // Resumed: --workers when given (the global batch is cut among them), else as many as the checkpoint's run had.
      const plan = planFor(point ? config.workers : null);
      const log = createRootLogger({ service: 'train', run: config.runId });
      if (finishedAlready(point, flags, log)) return;
      logPlan(plan, log);
      const checkpointEvery = flags.checkpointEvery as number;
      const io = serviceIoFrom(flags);
      try {
        // Events go to NATS from the services: with --nats one worker runs as a cluster of one.
        if (point ? point.writer === 'trainer' : config.workers === 1 && io.natsUrl === null) {
          if (outMode === 'overwrite') await clearOut(config.outDir, log);
          // One GPU, in this process: set before the backend is imported (CUDA reads it when it starts).
          if (plan.gpus) Object.assign(process.env, plan.env.workers[0]);
          const { runTraining } = await import('../services/trainer/train-run.js');
          await runTraining(config, log, { resume: point !== null, checkpointEverySteps: checkpointEvery });
        } else {
          if (config.workers === 1) {
            log.info({ nats: io.natsUrl }, '--nats with --workers 1: a coordinator, one worker and an evaluator, so the events go to NATS');
          }
          // Once, here: the coordinator and every worker then read the same files.
          await downloadIfAsked(config, log);
          // Every process would fail on missing files: said once, before any is started or anything written.
          await requireCifar10Files(config.dataDir, config.allowPartial);
          await runDistributedLocally(
            config,
            io,
            {
              pin: flags.pinWorkers === 'on',
              verbose: flags.verbose === true,
              singleThreadedGc: flags.singleThreadedGc as SingleThreadedGc,
              stopGraceMs: flags.stopGrace as number,
              scoreCheckpoints: flags.scoreCheckpoints as string,
              plan,
              coordinatorFlags: [
                ...forwardedFlags(command),
                ...(point ? ['--resume'] : []),
                // --out was checked here (and --overwrite asked for, if needed): the coordinator takes it as it is.
                ...(point ? [] : ['--overwrite']),
                '--checkpoint-every',
                String(Math.ceil(checkpointEvery / config.syncEvery)),
              ],
            },
            log,
          );
        }
      } catch (err) {
        // fleet's own errors are explained by their message (printed by main); the stack only at debug level.
        const plain = err instanceof FleetError && !log.isLevelEnabled('debug');
        // A local cluster's failure is in its run summary already (the process, its last error, its log).
        // On a terminal the fleet: line main prints says it all; piped, the JSON line is the log's record of it.
        if (!inSummary.has(err as object) && !(plain && process.stdout.isTTY)) {
          log.error({ err: plain ? { type: err.name, message: err.message } : err }, 'training failed');
        }
        throw err;
      }
    });
}

/** --overwrite: the earlier run's files go (other files in --out stay). */
async function clearOut(outDir: string, log: Logger): Promise<void> {
  const removed = await clearRunFiles(outDir);
  if (removed.length > 0) log.warn({ out: outDir, removed }, '--overwrite: the earlier run in --out removed');
}

/**
 * `fleet train --workers N`: a coordinator, N workers and (with NATS) an
 * evaluator as child processes; each serves metrics on a free port (logged).
 */
interface Launch {
  pin: boolean;
  singleThreadedGc: SingleThreadedGc;
  stopGraceMs: number;
  /** The training and NATS flags as given (flag, variable or file), for the coordinator. */
  coordinatorFlags: string[];
  /** The children's own lines on the terminal too. */
  verbose: boolean;
  /** The workers' GPUs, as each process's CUDA_VISIBLE_DEVICES. */
  plan: WorkerPlan;
  /** --score-checkpoints, for the evaluator. */
  scoreCheckpoints: string;
}

/** Errors a local cluster's run summary has reported (the process, its last error line, its log). */
const inSummary = new WeakSet<object>();

async function runDistributedLocally(config: TrainConfig, io: ServiceIo, launch: Launch, rootLog: Logger): Promise<void> {
  const view = new ClusterView({
    mode: viewModeOf(config.progress, process.stdout.isTTY === true),
    verbose: launch.verbose,
    epochs: config.epochs,
    workers: Array.from({ length: config.workers }, (_, i) => workerProcessName(i)),
    log: rootLog,
    scope: { service: 'train', run: config.runId },
  });
  const log = view.log;
  const { chooseEventBroker } = await import('../services/launcher/event-broker.js');
  const broker = await chooseEventBroker({ natsUrl: io.natsUrl, auth: io.natsAuth, log });
  // The children get the NATS credentials as variables (natsAuthEnv).
  const nats = broker.url ? ['--nats', broker.url] : [];
  const metrics = ['--metrics-port', '0', '--metrics-host', '127.0.0.1'];
  // The coordinator, the workers and (with NATS) the evaluator.
  const processes = 1 + config.workers + (broker.url ? 1 : 0);
  const nodeArgs = gcNodeFlags(launch.singleThreadedGc, processes);
  log.info({ processes, cpus: cpuCount(), nodeArgs, gpus: launch.plan.gpus }, 'starting the local cluster');
  const logs = new ChildLogs(config.outDir);
  const cpus = allowedCpus()?.length ?? cpuCount();
  const threadsOf = workerThreads(config.threads, config.workers, cpus);
  const started = performance.now();
  let failure: { process: string | null; reason: string; interrupted: boolean } | null = null;
  view.start(broker.url !== null);
  try {
    await runLocalCluster({
      nodeArgs,
      workers: config.workers,
      coordinatorArgs: [
        ...launch.coordinatorFlags,
        '--run-id',
        config.runId,
        '--out',
        config.outDir,
        ...nats,
        ...metrics,
        ...(broker.url ? ['--external-evaluator'] : []),
      ],
      workerArgs: [...metrics],
      // Native kernels' threads: the machine's CPUs shared among the workers (OpenMP oversubscribed spins).
      workerArgsOf: (i) => ['--threads', String(threadsOf[i] ?? 1)],
      pinning: launch.pin ? workerPinning(config.workers, log) : null,
      evaluatorArgs: broker.url
        ? [
            '--run',
            config.runId,
            '--out',
            config.outDir,
            '--data-dir',
            config.dataDir,
            '--backend',
            config.backend,
            // It scores while the workers train: one thread, not a share taken from them.
            '--threads',
            '1',
            '--score-checkpoints',
            launch.scoreCheckpoints,
            ...nats,
            ...metrics,
          ]
        : null,
      // Where the workers' threads take every CPU, the evaluator takes what they leave.
      evaluatorNice: evaluatorNiceness(threadsOf, cpus),
      log,
      stopGraceMs: launch.stopGraceMs,
      // The children get every value as a flag; a config file meant for `fleet train` is not theirs to read.
      // Nor an inherited FLEET_STOPPED_EXIT_CODE: the launcher stops its children itself (Ctrl-C, the run's end,
      // a failed sibling) and says so with its own exit code (130/143); a child's non-zero exit outside such a
      // stop ends the local cluster as a failure, so a worker stopped alone must keep exiting 0 (the run goes on).
      env: { FLEET_CONFIG: undefined, FLEET_STOPPED_EXIT_CODE: undefined, ...(broker.url ? natsAuthEnv(io) : {}) },
      envOf: processEnvOf(launch.plan),
      logs,
      onLine: (line) => view.line(line),
      onExit: (name, code, signal, stopping) => view.exited(name, code, signal, stopping),
    });
  } catch (err) {
    failure = {
      process: err instanceof ClusterFailedError ? err.process : null,
      reason: (err as Error).message,
      interrupted: err instanceof InterruptedError,
    };
    if (typeof err === 'object' && err !== null) inSummary.add(err);
    throw err;
  } finally {
    const summary = summarizeRun({
      progress: view.progress,
      epochs: config.epochs,
      wallMs: performance.now() - started,
      runDir: config.outDir,
      logs,
      failure,
    });
    view.finish(summary, logs.paths);
    await broker.stop();
  }
}

/** How --workers auto or --gpus decided, once; --gpus unchecked when nothing listed the machine's GPUs. */
function logPlan(plan: WorkerPlan, log: Logger): void {
  if (plan.basis === 'workers') return;
  log.info({ workers: plan.workers, gpus: plan.gpus, basis: plan.basis, listedBy: plan.listedBy }, 'workers planned');
  if (plan.gpus && plan.listedBy === null)
    log.warn({ gpus: plan.gpus }, "--gpus not checked: neither nvidia-smi nor /proc/driver/nvidia/gpus lists this machine's GPUs");
}

/**
 * The NATS credentials as variables for the children (the coordinator also has them among its forwarded flags):
 * not on the evaluator's command line, where `ps` would show them.
 */
function natsAuthEnv(io: ServiceIo): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(io.natsAuth) as [keyof NatsAuth, string | undefined][])
    if (value !== undefined) env[NATS_AUTH_VARIABLES[key]] = value;
  return env;
}

/** taskset and one CPU list per worker, or null (logged) when the workers cannot each have their own CPUs. */
function workerPinning(workers: number, log: Logger): { taskset: string; cpuSets: string[] } | null {
  const taskset = findTaskset();
  const cpus = allowedCpus();
  const cpuSets = cpus ? workerCpuSets(cpus, workers) : null;
  if (!taskset || !cpuSets) {
    log.warn(
      { taskset: taskset !== null, cpus: cpus?.length ?? null, workers },
      '--pin-workers on: not pinned (no taskset, or fewer CPUs than workers)',
    );
    return null;
  }
  log.info({ cpuSets }, 'workers pinned to their own CPUs');
  return { taskset, cpuSets };
}

/**
 * The training flags, shared by `fleet train` and `fleet coordinator`. Every
 * flag can also come from a FLEET_* variable (flag wins), so a Kubernetes
 * manifest or a sweep script sets them either way.
 */
export function addTrainingOptions(
  command: Command,
  { workersAuto = false, workersRange = false }: { workersAuto?: boolean; workersRange?: boolean } = {},
): Command {
  return command
    .addOption(
      workersRange
        ? workersRangeOpt()
        : workersAuto
          ? opt(
              '--workers <n>',
              'worker processes (data-parallel replicas); auto: one per GPU when @tensorflow/tfjs-node-gpu is installed and GPUs are listed, else one per CPU',
              'FLEET_WORKERS',
            )
              .argParser(parseWorkerCount)
              .default(1)
          : opt('--workers <n>', 'worker processes (data-parallel replicas)', 'FLEET_WORKERS').argParser(parseInteger).default(1),
    )
    .addOption(choicesOf(opt('--model <name>', 'architecture', 'FLEET_MODEL'), MODEL_CHOICES, TEST_MODEL_CHOICES).default('cnn'))
    .addOption(opt('--epochs <n>', 'passes over the training set', 'FLEET_EPOCHS').argParser(parseInteger).default(30))
    .addOption(opt('--batch-size <n>', 'images per step per worker', 'FLEET_BATCH_SIZE').argParser(parseInteger).default(128))
    .addOption(opt('--lr <x>', 'peak learning rate (after warm-up)', 'FLEET_LR').argParser(parseNumber).default(0.1))
    .addOption(opt('--min-lr <x>', 'learning rate at the end of the cosine schedule', 'FLEET_MIN_LR').argParser(parseNumber).default(0))
    .addOption(
      opt('--warmup-epochs <x>', 'linear warm-up length in epochs (capped at a fifth of the run)', 'FLEET_WARMUP_EPOCHS')
        .argParser(parseNumber)
        .default(1),
    )
    .addOption(opt('--momentum <x>', 'SGD momentum', 'FLEET_MOMENTUM').argParser(parseNumber).default(0.9))
    .addOption(opt('--weight-decay <x>', 'L2 weight decay', 'FLEET_WEIGHT_DECAY').argParser(parseNumber).default(5e-4))
    .addOption(
      opt('--augment <preset>', 'none: normalise; basic: crop+flip; full: crop+flip+colour jitter', 'FLEET_AUGMENT')
        .choices([...AUGMENT_CHOICES])
        .default('full'),
    )
    .addOption(opt('--mixup <alpha>', 'Mixup with Beta(alpha, alpha); 0 = off', 'FLEET_MIXUP').argParser(parseNumber).default(0))
    .addOption(opt('--cutmix <alpha>', 'CutMix with Beta(alpha, alpha); 0 = off', 'FLEET_CUTMIX').argParser(parseNumber).default(0))
    .addOption(opt('--label-smoothing <s>', 'label smoothing in [0, 1)', 'FLEET_LABEL_SMOOTHING').argParser(parseNumber).default(0))
    .addOption(opt('--data-dir <dir>', 'CIFAR-10 binary files (or their parent folder)', 'FLEET_DATA_DIR').default(DEFAULT_DATA_DIR))
    .addOption(opt('--download', 'download CIFAR-10 into --data-dir when absent', 'FLEET_DOWNLOAD').default(false))
    .addOption(opt('--data-url <url>', 'with --download: where to fetch cifar-10-binary.tar.gz from (a mirror)', 'FLEET_DATA_URL'))
    .addOption(opt('--allow-partial', 'train on whichever data_batch_N.bin files exist', 'FLEET_ALLOW_PARTIAL').default(false))
    .addOption(opt('--limit-train <n>', 'use only the first N training images', 'FLEET_LIMIT_TRAIN').argParser(parseInteger))
    .addOption(opt('--limit-test <n>', 'use only the first N test images', 'FLEET_LIMIT_TEST').argParser(parseInteger))
    .addOption(opt('--seed <n>', 'seed of initialisation, order and augmentation', 'FLEET_SEED').argParser(parseInteger).default(1))
    .addOption(
      opt('--backend <name>', 'compute backend', 'FLEET_BACKEND')
        .choices([...BACKEND_CHOICES])
        .default('auto'),
    )
    .addOption(threadsOpt())
    .addOption(opt('--out <dir>', 'run directory (default runs/<run-id>)', 'FLEET_OUT'))
    .addOption(opt('--run-id <id>', 'run id (default: time, model and a random suffix)', 'FLEET_RUN_ID'))
    .addOption(opt('--eval-batch-size <n>', 'images per evaluation batch', 'FLEET_EVAL_BATCH_SIZE').argParser(parseInteger).default(500))
    .addOption(
      opt('--progress <mode>', 'auto: a bar on a terminal, log lines otherwise; bar; log; off', 'FLEET_PROGRESS')
        .choices([...PROGRESS_CHOICES])
        .default('auto'),
    )
    .addOption(
      opt('--sync-every <k>', '1: average gradients every step; K: K local steps, then average parameters', 'FLEET_SYNC_EVERY')
        .argParser(parseInteger)
        .default(1),
    )
    .addOption(
      opt(
        '--lr-scaling <rule>',
        "none, or linear: lr x global batch / --batch-size (the run's --workers, MAX, at its start: fixed however many are present)",
        'FLEET_LR_SCALING',
      )
        .choices([...LR_SCALING_CHOICES])
        .default('none'),
    )
    .addOption(
      opt(
        '--balance <rule>',
        "equal: the global batch (--batch-size x --workers at the start) cut evenly among the workers present; speed: split by each worker's measured speed",
        'FLEET_BALANCE',
      )
        .choices([...BALANCE_CHOICES])
        .default('equal'),
    )
    .addOption(
      opt(
        '--compress <format>',
        'with --workers N: parameters and contributions travel as fp16 or bf16 (half the bytes); master, optimizer and sums stay float32. none: float32',
        'FLEET_COMPRESS',
      )
        .choices([...COMPRESS_CHOICES])
        .default('none'),
    )
    .addOption(
      opt(
        '--freeze-epochs <n>',
        'train only the head (the final dense layer) for the first N epochs, then every layer',
        'FLEET_FREEZE_EPOCHS',
      )
        .argParser(parseInteger)
        .default(0),
    )
    .addOption(
      opt(
        '--train-bn',
        'with --freeze-epochs: BatchNorm gammas and betas train too (BatchNorm in training mode)',
        'FLEET_TRAIN_BN',
      ).default(false),
    )
    .addOption(
      opt(
        '--fine-tune-lr <x>',
        'with --freeze-epochs: peak lr of the fine-tuning phase (its own warm-up + cosine)',
        'FLEET_FINE_TUNE_LR',
      ).argParser(parseNumber),
    )
    .addOption(
      opt(
        '--init-from <dir>',
        'start from an earlier fleet model (RUN_DIR/best; same architecture) instead of a seeded init',
        'FLEET_INIT_FROM',
      ),
    )
    .addOption(
      opt(
        '--stem <kind>',
        'resnet18/resnet34 stem: cifar (new 3x3 stride-1 conv1, no max-pool) or imagenet-conv1 (the 7x7 conv1 at stride 1, no max-pool)',
        'FLEET_STEM',
      )
        .choices([...STEM_CHOICES])
        .default('cifar'),
    )
    .addOption(
      opt(
        '--pretrained <file>',
        'resnet18/resnet34: start from ImageNet weights (safetensors, torchvision naming; docs/transfer-learning.md)',
        'FLEET_PRETRAINED',
      ),
    );
}

/** The validated stage of the training flags; errors name the flag, variable or file key each bad value came from. */
export function trainConfigFrom(flags: Record<string, unknown>, command: Command): TrainConfig {
  const model = String(flags.model);
  const runId = (flags.runId as string | undefined) ?? newRunId(model);
  const config = parseTrainConfig(
    {
      runId,
      // fleet coordinator's MIN:MAX: the run config holds MAX (the global batch is --batch-size x MAX at the start).
      workers: isWorkerRange(flags.workers) ? flags.workers.max : flags.workers,
      model,
      epochs: flags.epochs,
      batchSize: flags.batchSize,
      lr: flags.lr,
      minLr: flags.minLr,
      warmupEpochs: flags.warmupEpochs,
      momentum: flags.momentum,
      weightDecay: flags.weightDecay,
      augment: flags.augment,
      mixupAlpha: flags.mixup,
      cutmixAlpha: flags.cutmix,
      labelSmoothing: flags.labelSmoothing,
      dataDir: flags.dataDir,
      download: flags.download === true,
      dataUrl: flags.dataUrl ?? null,
      allowPartial: flags.allowPartial === true,
      limitTrain: flags.limitTrain ?? null,
      limitTest: flags.limitTest ?? null,
      seed: flags.seed,
      backend: flags.backend,
      threads: flags.threads ?? null,
      outDir: (flags.out as string | undefined) ?? join('runs', runId),
      evalBatchSize: flags.evalBatchSize,
      progress: flags.progress,
      syncEvery: flags.syncEvery,
      lrScaling: flags.lrScaling,
      balance: flags.balance,
      freezeEpochs: flags.freezeEpochs,
      trainBn: flags.trainBn === true,
      fineTuneLr: flags.fineTuneLr ?? null,
      initFrom: flags.initFrom ?? null,
      stem: flags.stem,
      pretrained: flags.pretrained ?? null,
      compress: flags.compress,
    },
    originOf(command),
  );
  // Recorded when the run starts and fixed from then on (a resume keeps the checkpoint's): MAX workers' batches.
  config.globalBatch = config.batchSize * config.workers;
  return checkPretrained(config, originOf(command));
}

/** The training and NATS flags `fleet coordinator` shares with `fleet train`; --run-id and --out are passed explicitly. */
const FORWARDED = new Set(addNatsOptions(addTrainingOptions(new Command('shared'))).options.map((o) => o.long));
FORWARDED.delete('--run-id');
FORWARDED.delete('--out');

function forwardedFlags(command: Command): string[] {
  return resolvedFlags(command, (o: Option) => FORWARDED.has(o.long));
}
