import { Command, Option } from 'commander';
import { createRootLogger } from '../src/runtime/logger.js';
import { runCoordinatorService } from '../services/coordinator/coordinator-main.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../src/runtime/config/train-config.js';
import { CHECKPOINT_FILE, configForResume } from '../services/coordinator/coordinator-run.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { parseCount, parseNonNegative, parsePort, parsePositive } from './parse-flag.js';
import { addServiceIoOptions, serviceIoFromFlags } from './service-options.js';
import { addTrainingOptions, trainConfigFromFlags } from './train-command.js';

/** --resume (or 'always', 'true'), --resume auto (when --out holds a checkpoint), or not. */
function resumeWanted(value: unknown, out: string): boolean {
  if (value === false || value === undefined || value === 'false') return false;
  if (value === true || value === 'true' || value === 'always') return true;
  if (value === 'auto') return existsSync(join(out, CHECKPOINT_FILE));
  throw new ConfigError([{ key: 'resume', flag: '--resume', message: 'expected always or auto', value }]);
}

/** `fleet coordinator`: the training flags plus where to listen and how rounds are kept. */
export function coordinatorCommand(): Command {
  const opt = (flags: string, description: string, env: string) => new Option(flags, description).env(env);
  return addGrpcSecurityOptions(addServiceIoOptions(addTrainingOptions(new Command('coordinator'))), 'server')
    .description('Coordinate a distributed run: waits for --workers workers, then runs rounds until the last epoch')
    .addOption(opt('--host <host>', 'address to listen on', 'FLEET_HOST').default('0.0.0.0'))
    .addOption(opt('--port <port>', 'port to listen on (0: any free port, logged)', 'FLEET_PORT').argParser(parsePort).default(7070))
    .addOption(opt('--resume [when]', 'continue from --out\'s checkpoint.fleet, with the run config saved in it (only --data-dir, --backend, --progress and --eval-batch-size are taken from the flags); \'auto\': when there is one, else start the run (a restarted pod)', 'FLEET_RESUME').default(false))
    .addOption(opt('--round-timeout <s>', 'a round closes after this many seconds; members that did not contribute are evicted', 'FLEET_ROUND_TIMEOUT').argParser(parsePositive).default(600))
    .addOption(opt('--heartbeat-timeout <s>', 'a member silent this long is evicted; must exceed the longest training step (a worker is busy during one)', 'FLEET_HEARTBEAT_TIMEOUT').argParser(parsePositive).default(120))
    .addOption(opt('--checkpoint-every <rounds>', 'checkpoint every N rounds (and at each epoch end); 0: epoch ends only', 'FLEET_CHECKPOINT_EVERY').argParser(parseCount).default(50))
    .addOption(opt('--external-evaluator', 'a fleet evaluator scores the checkpoints (and writes metrics lines and best/); the coordinator does not score the test set itself and, at the end, waits --evaluator-wait for the last score', 'FLEET_EXTERNAL_EVALUATOR').default(false))
    .addOption(opt('--evaluator-wait <s>', 'with --external-evaluator: how long the finished run waits for the last checkpoint\'s score', 'FLEET_EVALUATOR_WAIT').argParser(parseNonNegative).default(600))
    .addOption(opt('--keep-versions <n>', 'checkpoint versions kept in memory for the evaluator to fetch after the master moves on', 'FLEET_KEEP_VERSIONS').argParser(parseCount).default(2))
    .addOption(opt('--ledger', 'record how often each sample was applied, per epoch (applied-epoch-N.json)', 'FLEET_LEDGER').default(false))
    .action(async (flags: Record<string, unknown>) => {
      // Checked first: a bad TLS file or token fails before the run directory is touched.
      const security = await grpcSecurityFromFlags(flags, 'server');
      const fromFlags = trainConfigFromFlags(flags);
      const resume = resumeWanted(flags.resume, fromFlags.outDir);
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
