import { existsSync, readFileSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { isValidTokenText } from '../src/rpc/security/bearer-token.js';
import { FlagError } from '../src/runtime/config/flag-error.js';
import { serviceIoFrom } from '../src/runtime/config/service-io.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { onStopSignal } from '../src/runtime/stop-signals.js';
import { opt } from './option.js';
import { parsePort } from './parse-flag.js';
import { addNatsOptions } from './service-options.js';

const DEFAULT_RUNS = 'runs';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** `fleet dashboard`: runs and sweeps in a browser, live from NATS and from a folder of run directories. */
export function dashboardCommand(): Command {
  return addNatsOptions(new Command('dashboard'))
    .description(
      "Serve a web page of runs and sweeps: each run's loss and accuracy curves, lr schedule, workers (images/s, round split, straggler), evaluations, best model and confusion matrix; each sweep's trials and their curves. Live from NATS events, and from run directories",
    )
    .addOption(
      opt(
        '--runs <dir>',
        `a folder of run and sweep directories to show as well (default: ${DEFAULT_RUNS} when it exists); read again every 2 s`,
        'FLEET_DASHBOARD_RUNS',
      ),
    )
    .addOption(
      opt('--port <port>', 'port to serve on (0: any free port, logged)', 'FLEET_DASHBOARD_PORT').argParser(parsePort).default(7080),
    )
    .addOption(
      opt(
        '--host <host>',
        'address to listen on: 127.0.0.1 serves this machine only; any other address needs --token',
        'FLEET_DASHBOARD_HOST',
      ).default('127.0.0.1'),
    )
    .addOption(
      opt(
        '--token <token>',
        'require it on every request: "Authorization: Bearer <token>", or open the page once with ?token=<token> (sets a cookie). Prefer --token-file or the variable: flags show in ps',
        'FLEET_DASHBOARD_TOKEN',
      ),
    )
    .addOption(opt('--token-file <file>', 'read the token from this file (trailing whitespace dropped)', 'FLEET_DASHBOARD_TOKEN_FILE'))
    .action(async (flags: Record<string, unknown>) => {
      const io = serviceIoFrom(flags);
      const token = tokenOf(flags);
      const host = flags.host as string;
      if (!LOOPBACK.has(host) && token === null) {
        throw new FlagError(
          '--host',
          host,
          `--host ${host} serves the dashboard beyond this machine: give --token or --token-file (or FLEET_DASHBOARD_TOKEN), or keep --host 127.0.0.1`,
        );
      }
      const runsDir = runsDirOf(flags.runs as string | undefined);
      if (io.natsUrl === undefined && runsDir === null) {
        throw new FlagError(
          '--runs',
          DEFAULT_RUNS,
          `nothing to show: no --nats, and no ${DEFAULT_RUNS} folder here (give --nats URL or --runs DIR)`,
        );
      }
      const log = createRootLogger({ service: 'dashboard' });
      const { startDashboard } = await import('../services/dashboard/run-dashboard.js');
      const dashboard = await startDashboard({
        natsUrl: io.natsUrl ?? null,
        natsAuth: io.natsAuth,
        runsDir,
        host,
        port: flags.port as number,
        token,
        log,
      });
      process.stderr.write(
        `fleet dashboard: ${dashboard.url}${token === null ? '' : ' (open it once with ?token=<token>, or send Authorization: Bearer <token>)'}\n`,
      );
      await new Promise<void>((resolve) => {
        const stopListening = onStopSignal(() => {
          stopListening();
          resolve();
        });
      });
      await dashboard.stop();
    });
}

function tokenOf(flags: Record<string, unknown>): string | null {
  const file = flags.tokenFile as string | undefined;
  if (flags.token !== undefined && file !== undefined) throw new FlagError('--token-file', file, '--token and --token-file: give one');
  let token = flags.token as string | undefined;
  if (file !== undefined) {
    try {
      token = readFileSync(file, 'utf8').trimEnd();
    } catch (err) {
      throw new FlagError(
        '--token-file',
        file,
        `--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }
  if (token === undefined) return null;
  if (!isValidTokenText(token)) {
    throw new FlagError(
      file !== undefined ? '--token-file' : '--token',
      '(hidden)',
      'the dashboard token must be visible ASCII characters without spaces, at least one',
    );
  }
  return token;
}

/** --runs as given (it must be a folder), else the default folder when it exists, else null. */
function runsDirOf(given: string | undefined): string | null {
  if (given === undefined) return existsSync(DEFAULT_RUNS) && statSync(DEFAULT_RUNS).isDirectory() ? DEFAULT_RUNS : null;
  let isDir = false;
  try {
    isDir = statSync(given).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new FlagError('--runs', given, `--runs ${given}: not a folder`);
  return given;
}
