import { Command } from 'commander';
import { FleetError } from '../src/runtime/errors.js';
import { checkHealth } from '../src/rpc/health-check.js';
import { clientChannelFrom } from '../src/rpc/security/index.js';
import { parseCoordinatorAddress } from './coordinator-address.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { durationOpt, opt } from './option.js';

/**
 * `fleet health HOST:PORT`: the standard grpc.health.v1 Check as an exec
 * probe, for where Kubernetes' own gRPC probe cannot go (it speaks no TLS).
 * Exit 0 and one line on stdout when SERVING; else exit 1 and one line
 * saying the status or why there is none (TLS, refused, timeout).
 */
export function healthCommand(): Command {
  return addGrpcSecurityOptions(new Command('health'), 'client')
    .description(
      "Ask a coordinator's gRPC health service (grpc.health.v1 Check) with the worker's TLS and token flags: exit 0 when SERVING, else 1 with one line saying the status or the error (an exec probe where Kubernetes' gRPC probe cannot speak TLS)",
    )
    .argument('<host:port>', "the coordinator's address, as a worker's --coordinator")
    .addOption(
      opt(
        '--service <name>',
        "the service asked about: '' (default) the whole server, fleet.v1.Coordinator the run (NOT_SERVING once it ended)",
        'FLEET_HEALTH_SERVICE',
      ).default(''),
    )
    .addOption(
      durationOpt(
        '--timeout <duration>',
        'give up (exit 1) when there is no answer in this long, TLS handshake included',
        'FLEET_HEALTH_TIMEOUT',
        5000,
      ),
    )
    .action(async (text: string, flags: Record<string, unknown>) => {
      // The probe's output is its one line: Node's warning for a TLS server name that is an IP address
      // (grpc-js passes the dialled 127.0.0.1 on) would add two.
      process.noDeprecation = true;
      const address = parseCoordinatorAddress(text, 'HOST:PORT');
      // A bad TLS file or combination is a usage error (exit 2) naming the flag, before any call.
      const channel = await clientChannelFrom(await grpcSecurityFromFlags(flags, 'client'));
      const service = flags.service as string;
      const named = service === '' ? address : `${address} (service ${service})`;
      const status = await checkHealth(address, { service, timeoutMs: flags.timeout as number, channel });
      if (status !== 'SERVING') throw new FleetError(`health of ${named}: ${status}`);
      process.stdout.write(`${named}: SERVING\n`);
    });
}
