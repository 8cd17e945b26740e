import { Command } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../src/runtime/config/train-config.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { addConfigFileOption, originOf } from './config-stages.js';
import { durationOpt, opt, threadsOpt } from './option.js';
import { parsePort } from './parse-flag.js';
import { parseCoordinatorAddress } from './coordinator-address.js';
import { stoppedExitCodeOpt } from './stopped-exit-code-option.js';
import { exitAfter } from '../src/runtime/stopped-exit.js';

/** `fleet worker`: everything else comes from the coordinator's run config. */
export function workerCommand(): Command {
  return addConfigFileOption(addGrpcSecurityOptions(new Command('worker'), 'client'))
    .description('Train for a coordinator: register, then fetch, train and contribute round after round')
    .addOption(opt('--coordinator <host:port>', "the coordinator's address", 'FLEET_COORDINATOR').makeOptionMandatory())
    .addOption(opt('--name <name>', "this worker's name in logs (default host-pid)", 'FLEET_WORKER_NAME'))
    .addOption(opt('--run-id <id>', 'refuse a coordinator running another run', 'FLEET_RUN_ID'))
    .addOption(opt('--data-dir <dir>', "CIFAR-10 on this machine (default: the run's --data-dir)", 'FLEET_DATA_DIR'))
    .addOption(
      opt('--backend <name>', "compute backend on this machine (default: the run's)", 'FLEET_BACKEND').choices([...BACKEND_CHOICES]),
    )
    .addOption(threadsOpt())
    .addOption(
      durationOpt(
        '--connect-timeout <duration>',
        'give up when the coordinator stays unreachable this long',
        'FLEET_CONNECT_TIMEOUT',
        300_000,
      ),
    )
    .addOption(
      durationOpt(
        '--call-timeout <duration>',
        'deadline of a short call to the coordinator (register, heartbeat)',
        'FLEET_CALL_TIMEOUT',
        10_000,
      ),
    )
    .addOption(
      durationOpt(
        '--round-wait-timeout <duration>',
        'deadline of one wait for the next round to open (the coordinator answers sooner when it has news)',
        'FLEET_ROUND_WAIT_TIMEOUT',
        3_600_000,
      ),
    )
    .addOption(
      durationOpt(
        '--transfer-timeout <duration>',
        'deadline of one parameter download or contribution upload',
        'FLEET_TRANSFER_TIMEOUT',
        600_000,
      ),
    )
    .addOption(
      opt(
        '--metrics-port <port>',
        'serve Prometheus metrics at http://HOST:PORT/metrics from the first round on (0: any free port, logged)',
        'FLEET_METRICS_PORT',
      ).argParser(parsePort),
    )
    .addOption(
      opt(
        '--metrics-host <host>',
        'address the metrics endpoint listens on (0.0.0.0: every interface; 127.0.0.1: this machine only)',
        'FLEET_METRICS_HOST',
      ).default('0.0.0.0'),
    )
    .addOption(stoppedExitCodeOpt())
    .action(
      async (
        flags: {
          coordinator: string;
          name?: string;
          runId?: string;
          dataDir?: string;
          backend?: BackendChoice;
          threads?: number;
          connectTimeout: number;
          callTimeout: number;
          roundWaitTimeout: number;
          transferTimeout: number;
          metricsPort?: number;
          metricsHost: string;
          stoppedExitCode: number;
        } & Record<string, unknown>,
        command: Command,
      ) => {
        // Before anything else: a malformed address is refused at once, not after --connect-timeout of retries.
        const coordinator = parseCoordinatorAddress(flags.coordinator, originOf(command)('--coordinator'));
        const security = await grpcSecurityFromFlags(flags, 'client');
        const log = createRootLogger({ service: 'worker' });
        const { runWorkerService } = await import('../services/worker/worker-main.js');
        const end = await runWorkerService(
          {
            coordinator,
            name: flags.name ?? null,
            runId: flags.runId ?? '',
            dataDir: flags.dataDir ?? null,
            backend: flags.backend ?? null,
            threads: flags.threads ?? null,
            connectTimeoutMs: flags.connectTimeout,
            callTimeoutMs: flags.callTimeout,
            roundWaitTimeoutMs: flags.roundWaitTimeout,
            transferTimeoutMs: flags.transferTimeout,
            metrics: flags.metricsPort !== undefined ? { port: flags.metricsPort, host: flags.metricsHost } : null,
            security,
          },
          log,
        );
        exitAfter(end, flags.stoppedExitCode, log);
      },
    );
}
