import { Command } from 'commander';
import { createRootLogger } from '../src/runtime/logger.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { durationOpt, opt } from './option.js';
import { parsePort } from './parse-flag.js';
import { parseCoordinatorAddress } from './coordinator-address.js';
import { FlagError } from '../src/runtime/config/flag-error.js';

/** `fleet aggregator`: one slice of a sharded run's parameters (fleet coordinator --shards K --aggregators ...). */
export function aggregatorCommand(): Command {
  return addGrpcSecurityOptions(new Command('aggregator'), 'server')
    .description(
      'Hold, sum and update one slice of the parameters for a coordinator started with --shards K (--aggregators lists this one); exits when the run is over',
    )
    .addOption(opt('--host <host>', 'address to listen on', 'FLEET_HOST').default('0.0.0.0'))
    .addOption(opt('--port <port>', 'port to listen on (0: any free port, logged)', 'FLEET_PORT').argParser(parsePort).default(7071))
    .addOption(
      opt(
        '--coordinator <host:port>',
        'join this coordinator (started with --shards K --aggregators join) once listening; without it the coordinator lists this aggregator in --aggregators',
        'FLEET_COORDINATOR',
      ),
    )
    .addOption(
      opt(
        '--advertise <host>',
        'with --coordinator: the host workers and the coordinator reach this aggregator at (default --host, which must then not be 0.0.0.0)',
        'FLEET_ADVERTISE',
      ),
    )
    .addOption(
      durationOpt(
        '--connect-timeout <duration>',
        'with --coordinator: give up joining when the coordinator stays unreachable this long',
        'FLEET_CONNECT_TIMEOUT',
        300_000,
      ),
    )
    .addOption(
      durationOpt(
        '--contribution-idle <duration>',
        'a contribution stream silent this long is refused and frees its turn',
        'FLEET_CONTRIBUTION_IDLE',
        120_000,
      ),
    )
    .addOption(
      durationOpt(
        '--shutdown-grace <duration>',
        'at the end, how long calls in flight get before the server closes',
        'FLEET_SHUTDOWN_GRACE',
        5000,
        {
          allowZero: true,
        },
      ),
    )
    .action(async (flags: Record<string, unknown>) => {
      const security = await grpcSecurityFromFlags(flags, 'server');
      const join = joinFrom(flags);
      const log = createRootLogger({ service: 'aggregator' });
      const { runAggregatorService } = await import('../services/coordinator/shards/aggregator-main.js');
      await runAggregatorService(
        {
          host: flags.host as string,
          port: flags.port as number,
          security,
          contributionIdleMs: flags.contributionIdle as number,
          shutdownGraceMs: flags.shutdownGrace as number,
          ...(join ? { join } : {}),
        },
        log,
      );
    });
}

/** --coordinator and where to be reached: checked before anything listens. */
function joinFrom(flags: Record<string, unknown>): { coordinator: string; advertise: string; timeoutMs: number } | null {
  if (typeof flags.coordinator !== 'string') {
    if (typeof flags.advertise === 'string') throw new FlagError('--advertise', flags.advertise, '--advertise needs --coordinator');
    return null;
  }
  const coordinator = parseCoordinatorAddress(flags.coordinator);
  const host = flags.host as string;
  const advertise = typeof flags.advertise === 'string' ? flags.advertise.trim() : host;
  if (advertise === '' || advertise === '0.0.0.0' || advertise === '::' || advertise === '[::]')
    throw new FlagError(
      '--advertise',
      advertise,
      `--advertise: say where workers reach this aggregator (--host is ${host}, every interface)`,
    );
  return { coordinator, advertise, timeoutMs: flags.connectTimeout as number };
}
