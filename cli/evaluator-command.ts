import { Command } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../src/runtime/config/train-config.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { SCORE_CHECKPOINTS_CHOICES, type ScoreCheckpoints } from '../services/evaluator/checkpoint-schedule.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { serviceIoFrom } from '../src/runtime/config/service-io.js';
import { addConfigFileOption } from './config-stages.js';
import { durationOpt, opt, threadsOpt } from './option.js';
import { addServiceIoOptions } from './service-options.js';
import { stoppedExitCodeOpt } from './stopped-exit-code-option.js';
import { exitAfter } from '../src/runtime/stopped-exit.js';

/** `fleet evaluator`: scores a run's checkpoints (epoch ends by default) and keeps the best model. */
export function evaluatorCommand(): Command {
  return addConfigFileOption(addGrpcSecurityOptions(addServiceIoOptions(new Command('evaluator')), 'client'))
    .description(
      "Score a run's checkpoints on the whole test set (each epoch's end by default: --score-checkpoints; checkpoint events on NATS, parameters from the coordinator over gRPC); keep the best model",
    )
    .addOption(opt('--coordinator <host:port>', "the coordinator's address", 'FLEET_COORDINATOR').makeOptionMandatory())
    .addOption(opt('--run <id>', 'the run to evaluate (default: the latest run on the bus)', 'FLEET_RUN_ID'))
    .addOption(
      opt('--out <dir>', "run directory for best/, metrics.jsonl and evaluator-state.json (default: the run's --out)", 'FLEET_OUT'),
    )
    .addOption(
      opt('--data-dir <dir>', "CIFAR-10 on this machine; only test_batch.bin is read (default: the run's --data-dir)", 'FLEET_DATA_DIR'),
    )
    .addOption(
      opt('--backend <name>', "compute backend on this machine (default: the run's)", 'FLEET_BACKEND').choices([...BACKEND_CHOICES]),
    )
    .addOption(threadsOpt())
    .addOption(
      durationOpt(
        '--connect-timeout <duration>',
        'how long an unreachable coordinator is waited for before a version is skipped',
        'FLEET_CONNECT_TIMEOUT',
        300_000,
      ),
    )
    .addOption(
      durationOpt(
        '--call-timeout <duration>',
        'deadline of a short call to the coordinator (describe the run)',
        'FLEET_CALL_TIMEOUT',
        10_000,
      ),
    )
    .addOption(durationOpt('--transfer-timeout <duration>', 'deadline of one parameter download', 'FLEET_TRANSFER_TIMEOUT', 600_000))
    .addOption(
      durationOpt(
        '--ack-wait <duration>',
        'NATS ack wait of a checkpoint event, renewed while it is scored: after a crash the restarted evaluator gets the event back this soon',
        'FLEET_ACK_WAIT',
        5000,
      ),
    )
    .addOption(
      opt(
        '--keep-running',
        "do not exit at run.finished: keep scoring the run's checkpoints (a resumed run goes on) until stopped",
        'FLEET_KEEP_RUNNING',
      ).default(false),
    )
    .addOption(scoreCheckpointsOpt())
    .addOption(stoppedExitCodeOpt())
    .action(async (flags: Record<string, unknown>) => {
      const security = await grpcSecurityFromFlags(flags, 'client');
      const run = (flags.run as string | undefined) ?? null;
      const log = createRootLogger({ service: 'evaluator', ...(run ? { run } : {}) });
      const { runEvaluatorService } = await import('../services/evaluator/evaluator-main.js');
      const end = await runEvaluatorService(
        {
          coordinator: flags.coordinator as string,
          run,
          outDir: (flags.out as string | undefined) ?? null,
          dataDir: (flags.dataDir as string | undefined) ?? null,
          backend: (flags.backend as BackendChoice | undefined) ?? null,
          threads: (flags.threads as number | undefined) ?? null,
          connectTimeoutMs: flags.connectTimeout as number,
          callTimeoutMs: flags.callTimeout as number,
          transferTimeoutMs: flags.transferTimeout as number,
          ackWaitMs: flags.ackWait as number,
          exitWhenFinished: flags.keepRunning !== true,
          scoreCheckpoints: flags.scoreCheckpoints as ScoreCheckpoints,
          io: serviceIoFrom(flags),
          security,
        },
        log,
      );
      exitAfter(end, flags.stoppedExitCode as number, log);
    });
}

/** --score-checkpoints, on `fleet evaluator` and on `fleet train` (for the evaluator it starts). */
export function scoreCheckpointsOpt(context = '') {
  return opt(
    '--score-checkpoints <which>',
    `${context}epoch-ends: each epoch's end only; latest: periodic checkpoints too while no epoch end is scored, newest first, skipping superseded ones; every: each checkpoint in order`,
    'FLEET_SCORE_CHECKPOINTS',
  )
    .choices([...SCORE_CHECKPOINTS_CHOICES])
    .default('epoch-ends');
}
