import type { Command } from 'commander';
import { opt } from './option.js';
import { parsePort } from './parse-flag.js';

/** --nats, the NATS credentials and --metrics-port, on any service command (compiled by serviceIoFrom). */
export function addServiceIoOptions(command: Command): Command {
  return addNatsOptions(command)
    .addOption(
      opt(
        '--metrics-port <port>',
        'serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port, logged)',
        'FLEET_METRICS_PORT',
      ).argParser(parsePort),
    )
    .addOption(
      opt(
        '--metrics-host <host>',
        'address the metrics endpoint listens on (0.0.0.0: every interface; 127.0.0.1: this machine only)',
        'FLEET_METRICS_HOST',
      ).default('0.0.0.0'),
    );
}

/** --nats and the NATS credentials. */
export function addNatsOptions(command: Command): Command {
  return command
    .addOption(
      opt(
        '--nats <url>',
        "NATS server(s) with JetStream for the run's events, e.g. nats://nats:4222 (comma-separated for a cluster)",
        'NATS_URL',
      ),
    )
    .addOption(opt('--nats-user <user>', 'NATS user (with --nats-password)', 'NATS_USER'))
    .addOption(opt('--nats-password <password>', 'NATS password', 'NATS_PASSWORD'))
    .addOption(opt('--nats-token <token>', 'NATS token', 'NATS_TOKEN'))
    .addOption(opt('--nats-creds <file>', 'NATS credentials file (JWT + nkey)', 'NATS_CREDS'))
    .addOption(opt('--nats-nkey <file>', "NATS nkey seed file (the user's SU... seed; the server lists its public key)", 'NATS_NKEY'))
    .addOption(opt('--nats-ca <file>', "CA certificate (PEM) that signed the NATS server's: connects with TLS", 'NATS_CA'))
    .addOption(opt('--nats-cert <file>', 'client certificate (PEM) for a NATS server that verifies clients (with --nats-key)', 'NATS_CERT'))
    .addOption(opt('--nats-key <file>', "the client certificate's private key (PEM)", 'NATS_KEY'));
}
