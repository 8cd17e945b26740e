import { Command, Option } from 'commander';
import { createRootLogger } from '../runtime/logger.js';
import { runCoordinatorService } from '../services/coordinator/coordinator-main.js';
import { configForResume } from '../services/coordinator/coordinator-run.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { parseInteger, parseNumber } from './parse-flag.js';
import { addServiceIoOptions, serviceIoFromFlags } from './service-options.js';
import { addTrainingOptions, trainConfigFromFlags } from './train-command.js';

/** `fleet coordinator`: the training flags plus where to listen and how rounds are kept. */
export function coordinatorCommand(): Command {
  const opt = (flags: string, description: string, env: string) => new Option(flags, description).env(env);
  return addGrpcSecurityOptions(addServiceIoOptions(addTrainingOptions(new Command('coordinator'))), 'server')
    .description('Coordinate a distributed run: waits for --workers workers, then runs rounds until the last epoch')
    .addOption(opt('--host <host>', 'address to listen on', 'FLEET_HOST').default('0.0.0.0'))
    .addOption(opt('--port <port>', 'port to listen on (0: any free port, logged)', 'FLEET_PORT').argParser(parseInteger).default(7070))
    .addOption(opt('--resume', 'continue from --out\'s checkpoint.fleet, with the run config saved in it (only --data-dir, --backend, --progress and --eval-batch-size are taken from the flags)', 'FLEET_RESUME').default(false))
    .addOption(opt('--round-timeout <s>', 'a round closes after this many seconds; members that did not contribute are evicted', 'FLEET_ROUND_TIMEOUT').argParser(parseNumber).default(600))
    .addOption(opt('--heartbeat-timeout <s>', 'a member silent this long is evicted; must exceed the longest training step (a worker is busy during one)', 'FLEET_HEARTBEAT_TIMEOUT').argParser(parseNumber).default(120))
    .addOption(opt('--checkpoint-every <rounds>', 'checkpoint every N rounds (and at each epoch end); 0: epoch ends only', 'FLEET_CHECKPOINT_EVERY').argParser(parseInteger).default(50))
    .addOption(opt('--external-evaluator', 'a fleet evaluator scores the checkpoints (and writes metrics lines and best/); the coordinator does not score the test set itself and, at the end, waits --evaluator-wait for the last score', 'FLEET_EXTERNAL_EVALUATOR').default(false))
    .addOption(opt('--evaluator-wait <s>', 'with --external-evaluator: how long the finished run waits for the last checkpoint\'s score', 'FLEET_EVALUATOR_WAIT').argParser(parseNumber).default(600))
    .addOption(opt('--keep-versions <n>', 'checkpoint versions kept in memory for the evaluator to fetch after the master moves on', 'FLEET_KEEP_VERSIONS').argParser(parseInteger).default(2))
    .addOption(opt('--ledger', 'record how often each sample was applied, per epoch (applied-epoch-N.json)', 'FLEET_LEDGER').default(false))
    .action(async (flags: Record<string, unknown>) => {
      const resume = flags.resume === true || flags.resume === 'true';
      // Checked first: a bad TLS file or token fails before the run directory is touched.
      const security = await grpcSecurityFromFlags(flags, 'server');
      const fromFlags = trainConfigFromFlags(flags);
      const config = resume ? await configForResume(fromFlags) : fromFlags;
      const log = createRootLogger({ service: 'coordinator', run: config.runId });
      const heartbeatTimeoutMs = (flags.heartbeatTimeout as number) * 1000;
      await runCoordinatorService({
        config, resume,
        roundTimeoutMs: (flags.roundTimeout as number) * 1000, heartbeatTimeoutMs,
        heartbeatIntervalMs: Math.max(200, Math.round(heartbeatTimeoutMs / 5)),
        checkpointEveryRounds: flags.checkpointEvery as number, ledger: flags.ledger === true || flags.ledger === 'true',
        host: flags.host as string, port: flags.port as number, lingerMs: 3000, shutdownGraceMs: 5000,
        externalEvaluator: flags.externalEvaluator === true || flags.externalEvaluator === 'true',
        evaluatorWaitMs: (flags.evaluatorWait as number) * 1000, retainVersions: flags.keepVersions as number,
        io: serviceIoFromFlags(flags), security,
      }, log);
    });
}
