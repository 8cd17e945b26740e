import { Command } from 'commander';
import { connectNatsBus } from '../src/events/index.js';
import { onStopSignal } from '../src/runtime/stop-signals.js';
import { FleetError } from '../src/runtime/errors.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { runWatch } from '../services/watch/run-watch.js';
import { serviceIoFrom } from '../src/runtime/config/service-io.js';
import { opt } from './option.js';
import { addNatsOptions } from './service-options.js';

/** `fleet watch`: a run's live view from any machine that reaches NATS. */
export function watchCommand(): Command {
  return addNatsOptions(new Command('watch'))
    .description("Follow a run's events: per-worker progress, images/s, loss, round time, ETA, test accuracy, the straggler")
    .addOption(opt('--run <id>', 'the run (default: the latest on the bus)', 'FLEET_RUN_ID'))
    .addOption(opt('--json', 'print the events as JSON lines, for tools').default(false))
    .addOption(opt('--new', "only events from now on (default: the run's whole history first)").default(false))
    .addOption(opt('--keep-running', 'keep following after the run finished').default(false))
    .action(async (flags: Record<string, unknown>) => {
      const io = serviceIoFrom(flags);
      const natsUrl = io.natsUrl ?? 'nats://127.0.0.1:4222';
      // Logs go to stderr: stdout is the view (or the JSON lines).
      const log = createRootLogger({ service: 'watch' }, { destination: process.stderr, pretty: false });
      const bus = await connectNatsBus({ servers: natsUrl, name: 'watch', log, auth: io.natsAuth });
      const stop = new AbortController();
      const stopListening = onStopSignal(() => stop.abort());
      try {
        const run = (flags.run as string | undefined) ?? (await bus.latestRun());
        if (!run) throw new FleetError(`no run on the bus at ${natsUrl} yet: give --run ID`);
        const outcome = await runWatch({
          follow: (r, handler, o) => bus.follow(r, handler, o),
          run,
          json: flags.json === true,
          out: process.stdout,
          isTTY: process.stdout.isTTY === true,
          untilFinished: flags.keepRunning !== true,
          signal: stop.signal,
          from: flags.new === true ? 'new' : 'start',
        });
        if (outcome === 'failed') process.exitCode = 1;
      } finally {
        stopListening();
        await bus.close();
      }
    });
}
