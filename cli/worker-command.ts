import { Command, Option } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../src/runtime/config/train-config.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { runWorkerService } from '../services/worker/worker-main.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { parsePort, parsePositive } from './parse-flag.js';

/** `fleet worker`: everything else comes from the coordinator's run config. */
export function workerCommand(): Command {
  const opt = (flags: string, description: string, env: string) => new Option(flags, description).env(env);
  return addGrpcSecurityOptions(new Command('worker'), 'client')
    .description('Train for a coordinator: register, then fetch, train and contribute round after round')
    .addOption(opt('--coordinator <host:port>', 'the coordinator\'s address', 'FLEET_COORDINATOR').makeOptionMandatory())
    .addOption(opt('--name <name>', 'this worker\'s name in logs (default host-pid)', 'FLEET_WORKER_NAME'))
    .addOption(opt('--run-id <id>', 'refuse a coordinator running another run', 'FLEET_RUN_ID'))
    .addOption(opt('--data-dir <dir>', 'CIFAR-10 on this machine (default: the run\'s --data-dir)', 'FLEET_DATA_DIR'))
    .addOption(opt('--backend <name>', 'compute backend on this machine (default: the run\'s)', 'FLEET_BACKEND').choices([...BACKEND_CHOICES]))
    .addOption(opt('--connect-timeout <s>', 'give up when the coordinator stays unreachable this long', 'FLEET_CONNECT_TIMEOUT').argParser(parsePositive).default(300))
    .addOption(opt('--metrics-port <port>', 'serve Prometheus metrics at http://HOST:PORT/metrics from the first round on (0: any free port, logged)', 'FLEET_METRICS_PORT').argParser(parsePort))
    .addOption(opt('--metrics-host <host>', 'address of the metrics endpoint', 'FLEET_METRICS_HOST').default('0.0.0.0'))
    .action(async (flags: { coordinator: string; name?: string; runId?: string; dataDir?: string; backend?: BackendChoice; connectTimeout: number; metricsPort?: number; metricsHost: string } & Record<string, unknown>) => {
      const security = await grpcSecurityFromFlags(flags, 'client');
      const log = createRootLogger({ service: 'worker' });
      await runWorkerService({
        coordinator: flags.coordinator, name: flags.name ?? null, runId: flags.runId ?? '', dataDir: flags.dataDir ?? null,
        backend: flags.backend ?? null, connectTimeoutMs: flags.connectTimeout * 1000,
        metrics: flags.metricsPort !== undefined ? { port: flags.metricsPort, host: flags.metricsHost } : null,
        security,
      }, log);
    });
}
