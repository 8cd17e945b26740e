import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRootLogger } from '../src/runtime/logger.js';
import { ensureCifar10 } from '../src/dataset/index.js';
import { ConfigError, FLAG_OF, MACHINE_KEYS, machineConfigOf } from '../src/runtime/config/train-config.js';
import { serviceIoFrom } from '../src/runtime/config/service-io.js';
import { parseBoolean, ValueSyntaxError } from '../src/runtime/config/value-parsers.js';
import { runCoordinatorService } from '../services/coordinator/coordinator-main.js';
import { CHECKPOINT_FILE, RunAlreadyFinishedError } from '../services/coordinator/coordinator-run.js';
import { configForResume } from '../services/coordinator/checkpoint/resume-config.js';
import { addConfigFileOption } from './config-stages.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { durationOpt, opt } from './option.js';
import { parseCount, parsePort } from './parse-flag.js';
import { addServiceIoOptions } from './service-options.js';
import { addTrainingOptions, trainConfigFrom } from './train-command.js';

/** --resume (a boolean, or 'always'), --resume auto (when --out holds a checkpoint), or not. */
function resumeWanted(value: unknown, out: string): boolean {
  if (value === undefined || typeof value === 'boolean') return value === true;
  if (value === 'always') return true;
  if (value === 'auto') return existsSync(join(out, CHECKPOINT_FILE));
  try {
    return parseBoolean(String(value));
  } catch (err) {
    if (!(err instanceof ValueSyntaxError)) throw err;
    throw new ConfigError([{ key: 'resume', flag: '--resume', message: 'expected always, auto or a boolean', value }]);
  }
}

const MACHINE_FLAGS = MACHINE_KEYS.map((k) => FLAG_OF[k]).join(', ');

/** `fleet coordinator`: the training flags plus where to listen and how rounds are kept. */
export function coordinatorCommand(): Command {
  return addConfigFileOption(
    addGrpcSecurityOptions(addServiceIoOptions(describeProgressHere(addTrainingOptions(new Command('coordinator')))), 'server'),
  )
    .description('Coordinate a distributed run: waits for --workers workers, then runs rounds until the last epoch')
    .addOption(opt('--host <host>', 'address to listen on', 'FLEET_HOST').default('0.0.0.0'))
    .addOption(opt('--port <port>', 'port to listen on (0: any free port, logged)', 'FLEET_PORT').argParser(parsePort).default(7070))
    .addOption(
      opt(
        '--resume [when]',
        `continue from --out's checkpoint.fleet, with the run config saved in it (only this machine's ${MACHINE_FLAGS} are taken from the flags); 'auto': when there is one, else start the run (a restarted pod)`,
        'FLEET_RESUME',
      ).default(false),
    )
    .addOption(
      durationOpt(
        '--round-timeout <duration>',
        'a round closes after this long; members that did not contribute are evicted',
        'FLEET_ROUND_TIMEOUT',
        600_000,
      ),
    )
    .addOption(
      durationOpt(
        '--heartbeat-timeout <duration>',
        'a member silent this long is evicted; must exceed the longest training step (a worker is busy during one)',
        'FLEET_HEARTBEAT_TIMEOUT',
        120_000,
      ),
    )
    .addOption(
      opt('--checkpoint-every <rounds>', 'checkpoint every N rounds (and at each epoch end); 0: epoch ends only', 'FLEET_CHECKPOINT_EVERY')
        .argParser(parseCount)
        .default(50),
    )
    .addOption(
      opt(
        '--external-evaluator',
        'a fleet evaluator scores the checkpoints (and writes metrics lines and best/); the coordinator does not score the test set itself and, at the end, waits --evaluator-wait for the last score',
        'FLEET_EXTERNAL_EVALUATOR',
      ).default(false),
    )
    .addOption(
      durationOpt(
        '--evaluator-wait <duration>',
        "with --external-evaluator: how long the finished run waits for the last checkpoint's score",
        'FLEET_EVALUATOR_WAIT',
        600_000,
        { allowZero: true },
      ),
    )
    .addOption(
      opt(
        '--keep-versions <n>',
        'checkpoint versions kept in memory for the evaluator to fetch after the master moves on',
        'FLEET_KEEP_VERSIONS',
      )
        .argParser(parseCount)
        .default(2),
    )
    .addOption(
      durationOpt('--linger <duration>', 'after the run, keep answering this long so every worker hears it is over', 'FLEET_LINGER', 3000, {
        allowZero: true,
      }),
    )
    .addOption(
      durationOpt(
        '--shutdown-grace <duration>',
        'on SIGTERM or at the end, how long calls in flight get before the server closes',
        'FLEET_SHUTDOWN_GRACE',
        5000,
        { allowZero: true },
      ),
    )
    .addOption(opt('--ledger', 'record how often each sample was applied, per epoch (applied-epoch-N.json)', 'FLEET_LEDGER').default(false))
    .action(async (flags: Record<string, unknown>, command: Command) => {
      // Checked first: a bad TLS file or token fails before the run directory is touched.
      const security = await grpcSecurityFromFlags(flags, 'server');
      const fromFlags = trainConfigFrom(flags, command);
      const resume = resumeWanted(flags.resume, fromFlags.outDir);
      const config = resume ? await configForResume(join(fromFlags.outDir, CHECKPOINT_FILE), machineConfigOf(fromFlags)) : fromFlags;
      const log = createRootLogger({ service: 'coordinator', run: config.runId });
      // As fleet train does: the coordinator reads the test set (and the train set's size) itself.
      if (config.download) await ensureCifar10({ dir: config.dataDir, allowPartial: config.allowPartial, log });
      const heartbeatTimeoutMs = flags.heartbeatTimeout as number;
      const service = runCoordinatorService(
        {
          config,
          resume,
          roundTimeoutMs: flags.roundTimeout as number,
          heartbeatTimeoutMs,
          heartbeatIntervalMs: Math.max(200, Math.round(heartbeatTimeoutMs / 5)),
          checkpointEveryRounds: flags.checkpointEvery as number,
          ledger: flags.ledger === true,
          host: flags.host as string,
          port: flags.port as number,
          lingerMs: flags.linger as number,
          shutdownGraceMs: flags.shutdownGrace as number,
          externalEvaluator: flags.externalEvaluator === true,
          evaluatorWaitMs: flags.evaluatorWait as number,
          retainVersions: flags.keepVersions as number,
          io: serviceIoFrom(flags),
          security,
        },
        log,
      );
      try {
        await service;
      } catch (err) {
        // A restarted pod (--resume auto) of a run that is done: done again, not a failure to crash-loop on.
        if (!(err instanceof RunAlreadyFinishedError) || flags.resume !== 'auto') throw err;
        log.info({ file: err.file, epoch: err.epoch }, 'run already finished: nothing to resume');
      }
    });
}

/**
 * --progress is a training flag the coordinator shares with fleet train (which passes its flags on), but a
 * coordinator draws no bar: its help says where its progress is instead.
 */
function describeProgressHere(command: Command): Command {
  const progress = command.options.find((o) => o.long === '--progress');
  if (progress) {
    progress.description =
      "no effect on a coordinator (accepted as fleet train passes it on): its progress is its 'round closed' and 'epoch done' log lines and its events (fleet watch)";
  }
  return command;
}
