import { Command } from 'commander';
import { onStopSignal } from '../src/runtime/stop-signals.js';
import { createRootLogger } from '../src/runtime/logger.js';
import type { WatchOptions } from '../services/watch/follow-until-outcome.js';
import { FlagError } from '../src/runtime/config/flag-error.js';
import { serviceIoFrom } from '../src/runtime/config/service-io.js';
import { durationOpt, opt } from './option.js';
import { addNatsOptions } from './service-options.js';

/** `fleet watch`: a run's live view from any machine that reaches NATS. It only reads: the stream is the publishers' to create. */
export function watchCommand(): Command {
  return addNatsOptions(new Command('watch'))
    .description(
      "Follow a run's events: per-worker progress, images/s, loss, round time, ETA, test accuracy, the straggler. On a terminal a view redrawn in place; otherwise one logfmt line per event",
    )
    .addOption(opt('--run <id>', 'the run (default: the latest to start on the bus)', 'FLEET_RUN_ID'))
    .addOption(
      opt(
        '--sweep <id>',
        'a sweep instead of a run (fleet sweep --nats): its trial table (id, params, status, epoch, best, pruned at) until sweep.finished',
      ),
    )
    .addOption(opt('--json', 'print the events as JSON lines (every field), for tools and log collectors that parse JSON').default(false))
    .addOption(opt('--new', "only events from now on (default: the run's whole history first)").default(false))
    .addOption(
      opt(
        '--keep-running',
        'do not exit at run.finished (sweep.finished with --sweep): keep following (a resumed run or sweep publishes again) until interrupted',
        'FLEET_KEEP_RUNNING',
      ).default(false),
    )
    .addOption(
      durationOpt(
        '--wait-timeout <duration>',
        'give up (exit 1) when the server still has no events stream, or no events of the run, after this long; 0: wait for ever',
        'FLEET_WAIT_TIMEOUT',
        0,
        { allowZero: true },
      ).default(0, 'none'),
    )
    .action(async (flags: Record<string, unknown>) => {
      const io = serviceIoFrom(flags);
      const sweep = (flags.sweep as string | undefined) ?? null;
      if (sweep !== null && flags.run !== undefined) {
        throw new FlagError('--sweep', sweep, '--sweep and --run: watch one of them (a trial of a sweep is the run <sweep id>-<trial id>)');
      }
      const natsUrl = io.natsUrl ?? 'nats://127.0.0.1:4222';
      // Logs go to stderr: stdout is the view (or the event lines).
      const log = createRootLogger({ service: 'watch' }, { destination: process.stderr, pretty: false });
      const [{ connectNatsReader }, { runWatch, WatchedRunFailedError }, { waitForRun }, { runSweepWatch, WatchedSweepFailedError }] =
        await Promise.all([
          import('../src/events/index.js'),
          import('../services/watch/run-watch.js'),
          import('../services/watch/wait-for-run.js'),
          import('../services/watch/sweep-watch.js'),
        ]);
      const reader = await connectNatsReader({ servers: natsUrl, name: 'watch', log, auth: io.natsAuth });
      const stop = new AbortController();
      const stopListening = onStopSignal(() => stop.abort());
      try {
        const run = await waitForRun({
          locator: reader,
          run: sweep ?? (flags.run as string | undefined) ?? null,
          url: natsUrl,
          say: (line) => process.stderr.write(`fleet watch: ${line}\n`),
          timeoutMs: flags.waitTimeout as number,
          signal: stop.signal,
        });
        if (run === null) return;
        const watch: WatchOptions = {
          follow: (r, handler, o) => reader.follow(r, handler, o),
          json: flags.json === true,
          out: process.stdout,
          isTTY: process.stdout.isTTY === true,
          untilFinished: flags.keepRunning !== true,
          signal: stop.signal,
          from: flags.new === true ? 'new' : 'start',
        };
        if (sweep !== null) {
          if ((await runSweepWatch({ ...watch, sweep })) === 'failed') throw new WatchedSweepFailedError(sweep);
          return;
        }
        const outcome = await runWatch({ ...watch, run });
        if (outcome === 'failed') throw new WatchedRunFailedError(run);
      } finally {
        stopListening();
        await reader.close();
      }
    });
}
