import { Command, Option } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../src/runtime/config/train-config.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { runEvaluatorService } from '../services/evaluator/evaluator-main.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { parsePositive } from './parse-flag.js';
import { addServiceIoOptions, serviceIoFromFlags } from './service-options.js';

/** `fleet evaluator`: scores every checkpoint of a run and keeps the best model. */
export function evaluatorCommand(): Command {
  const opt = (flags: string, description: string, env: string) => new Option(flags, description).env(env);
  return addGrpcSecurityOptions(addServiceIoOptions(new Command('evaluator')), 'client')
    .description('Score each checkpoint of a run on the whole test set (checkpoint events on NATS, parameters from the coordinator over gRPC); keep the best model')
    .addOption(opt('--coordinator <host:port>', 'the coordinator\'s address', 'FLEET_COORDINATOR').makeOptionMandatory())
    .addOption(opt('--run <id>', 'the run to evaluate (default: the latest run on the bus)', 'FLEET_RUN_ID'))
    .addOption(opt('--out <dir>', 'run directory for best/, metrics.jsonl and evaluator-state.json (default: the run\'s --out)', 'FLEET_OUT'))
    .addOption(opt('--data-dir <dir>', 'CIFAR-10 on this machine; only test_batch.bin is read (default: the run\'s --data-dir)', 'FLEET_DATA_DIR'))
    .addOption(opt('--backend <name>', 'compute backend on this machine (default: the run\'s)', 'FLEET_BACKEND').choices([...BACKEND_CHOICES]))
    .addOption(opt('--connect-timeout <s>', 'how long an unreachable coordinator is waited for before a version is skipped', 'FLEET_CONNECT_TIMEOUT').argParser(parsePositive).default(300))
    .addOption(opt('--keep-running', 'keep following after the run finished (a resumed run goes on)', 'FLEET_KEEP_RUNNING').default(false))
    .action(async (flags: Record<string, unknown>) => {
      const security = await grpcSecurityFromFlags(flags, 'client');
      const run = (flags.run as string | undefined) ?? null;
      const log = createRootLogger({ service: 'evaluator', ...(run ? { run } : {}) });
      await runEvaluatorService({
        coordinator: flags.coordinator as string, run, outDir: (flags.out as string | undefined) ?? null,
        dataDir: (flags.dataDir as string | undefined) ?? null, backend: (flags.backend as BackendChoice | undefined) ?? null,
        connectTimeoutMs: (flags.connectTimeout as number) * 1000,
        exitWhenFinished: !(flags.keepRunning === true || flags.keepRunning === 'true'),
        io: serviceIoFromFlags(flags), security,
      }, log);
    });
}
