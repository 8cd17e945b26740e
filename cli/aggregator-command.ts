import { Command } from 'commander';
import { createRootLogger } from '../src/runtime/logger.js';
import { runAggregatorService } from '../services/coordinator/shards/aggregator-main.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { durationOpt, opt } from './option.js';
import { parsePort } from './parse-flag.js';

/** `fleet aggregator`: one slice of a sharded run's parameters (fleet coordinator --shards K --aggregators ...). */
export function aggregatorCommand(): Command {
  return addGrpcSecurityOptions(new Command('aggregator'), 'server')
    .description(
      'Hold, sum and update one slice of the parameters for a coordinator started with --shards K (--aggregators lists this one); exits when the run is over',
    )
    .addOption(opt('--host <host>', 'address to listen on', 'FLEET_HOST').default('0.0.0.0'))
    .addOption(opt('--port <port>', 'port to listen on (0: any free port, logged)', 'FLEET_PORT').argParser(parsePort).default(7071))
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
      const log = createRootLogger({ service: 'aggregator' });
      await runAggregatorService(
        {
          host: flags.host as string,
          port: flags.port as number,
          security,
          contributionIdleMs: flags.contributionIdle as number,
          shutdownGraceMs: flags.shutdownGrace as number,
        },
        log,
      );
    });
}
