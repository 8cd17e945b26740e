import { Command, Option } from 'commander';
import { parsePort } from './parse-flag.js';

/** What every service takes for events and metrics, from flags or the environment. */
export interface ServiceIo {
  /** NATS server URL(s); null: no NATS, events stay in this process. */
  natsUrl: string | null;
  natsAuth: { user?: string; pass?: string; token?: string; credsFile?: string };
  /** Port of the Prometheus endpoint (0: any free port, logged); null: none. */
  metricsPort: number | null;
  metricsHost: string;
}

const opt = (flags: string, description: string, env: string) => new Option(flags, description).env(env);

/** --nats, the NATS credentials and --metrics-port, on any service command. */
export function addServiceIoOptions(command: Command): Command {
  return addNatsOptions(command)
    .addOption(opt('--metrics-port <port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port, logged)', 'FLEET_METRICS_PORT').argParser(parsePort))
    .addOption(opt('--metrics-host <host>', 'address of the metrics endpoint', 'FLEET_METRICS_HOST').default('0.0.0.0'));
}

/** --nats and the NATS credentials. */
export function addNatsOptions(command: Command): Command {
  return command
    .addOption(opt('--nats <url>', 'NATS server(s) with JetStream for the run\'s events, e.g. nats://nats:4222 (comma-separated for a cluster)', 'NATS_URL'))
    .addOption(opt('--nats-user <user>', 'NATS user (with --nats-password)', 'NATS_USER'))
    .addOption(opt('--nats-password <password>', 'NATS password', 'NATS_PASSWORD'))
    .addOption(opt('--nats-token <token>', 'NATS token', 'NATS_TOKEN'))
    .addOption(opt('--nats-creds <file>', 'NATS credentials file (JWT + nkey)', 'NATS_CREDS'));
}

export function serviceIoFromFlags(flags: Record<string, unknown>): ServiceIo {
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const auth: ServiceIo['natsAuth'] = {};
  if (str(flags.natsUser)) auth.user = str(flags.natsUser)!;
  if (str(flags.natsPassword)) auth.pass = str(flags.natsPassword)!;
  if (str(flags.natsToken)) auth.token = str(flags.natsToken)!;
  if (str(flags.natsCreds)) auth.credsFile = str(flags.natsCreds)!;
  return {
    natsUrl: str(flags.nats) ?? null,
    natsAuth: auth,
    metricsPort: typeof flags.metricsPort === 'number' ? flags.metricsPort : null,
    metricsHost: (flags.metricsHost as string | undefined) ?? '0.0.0.0',
  };
}
