import { Command } from 'commander';
import { createRootLogger } from '../src/runtime/logger.js';
import { downloadIfAsked } from '../src/dataset/index.js';
import { serviceIoFrom } from '../src/runtime/config/service-io.js';
import { addConfigFileOption } from './config-stages.js';
import { addGrpcSecurityOptions, grpcSecurityFromFlags } from './grpc-security-options.js';
import { durationOpt, opt } from './option.js';
import { parseCount, parseNumber, parsePort } from './parse-flag.js';
import { checkpointEveryOpt, finishedAlready, resumeFrom, resumeOpt } from './resume-option.js';
import { checkRunOut, overwriteOpt } from './out-dir-options.js';
import { addServiceIoOptions } from './service-options.js';
import { stoppedExitCodeOpt } from './stopped-exit-code-option.js';
import { exitAfter } from '../src/runtime/stopped-exit.js';
import { addTrainingOptions, trainConfigFrom } from './train-command.js';
import { parseInteger } from './parse-flag.js';
import { FlagError } from '../src/runtime/config/flag-error.js';
import { clientChannelFrom, type GrpcSecurity } from '../src/rpc/security/index.js';
import { startLocalAggregators } from '../services/coordinator/shards/local-aggregators.js';
import { AggregatorJoins } from '../services/coordinator/shards/aggregator-joins.js';
import type { WorkerRange } from '../src/runtime/config/worker-range.js';
import { LIVENESS_BEAT_INTERVAL_MS } from '../src/events/event-subjects.js';
import { formatDuration } from '../src/runtime/config/value-parsers.js';

/** `fleet coordinator`: the training flags plus where to listen and how rounds are kept. */
export function coordinatorCommand(): Command {
  return addConfigFileOption(
    addGrpcSecurityOptions(
      addServiceIoOptions(describeProgressHere(addTrainingOptions(new Command('coordinator'), { workersRange: true }))),
      'server',
    ),
  )
    .description(
      'Coordinate a distributed run: waits for --workers workers (MIN of MIN:MAX), admits more up to MAX, then runs rounds until the last epoch',
    )
    .addOption(opt('--host <host>', 'address to listen on', 'FLEET_HOST').default('0.0.0.0'))
    .addOption(opt('--port <port>', 'port to listen on (0: any free port, logged)', 'FLEET_PORT').argParser(parsePort).default(7070))
    .addOption(resumeOpt())
    .addOption(overwriteOpt())
    .addOption(
      durationOpt(
        '--round-timeout <duration>',
        'a round closes after this long; members that did not contribute are evicted',
        'FLEET_ROUND_TIMEOUT',
        600_000,
      ),
    )
    .addOption(
      durationOpt(
        '--heartbeat-timeout <duration>',
        "a member silent this long is evicted (a worker's heartbeats come from a thread of their own: a long step does not delay them)",
        'FLEET_HEARTBEAT_TIMEOUT',
        10_000,
      ),
    )
    .addOption(checkpointEveryOpt('rounds', 50))
    .addOption(
      durationOpt(
        '--checkpoint-every-seconds <duration>',
        'also checkpoint once this long has passed since the last checkpoint, whatever the round count (0: by rounds only)',
        'FLEET_CHECKPOINT_EVERY_SECONDS',
        300_000,
        { allowZero: true },
      ),
    )
    .addOption(
      opt(
        '--external-evaluator',
        'a fleet evaluator scores the checkpoints (and writes metrics lines and best/); the coordinator does not score the test set itself and, at the end, waits --evaluator-wait for the last score',
        'FLEET_EXTERNAL_EVALUATOR',
      ).default(false),
    )
    .addOption(
      durationOpt(
        '--evaluator-wait <duration>',
        "with --external-evaluator: how long the finished run waits for the last checkpoint's score",
        'FLEET_EVALUATOR_WAIT',
        600_000,
        { allowZero: true },
      ),
    )
    .addOption(
      durationOpt(
        '--evaluator-heartbeat-timeout <duration>',
        `with --external-evaluator: once training is over, no evaluator liveness beat (one a second) heard for this long ends the wait for the last score at once (the evaluator died, hangs, or none was started) and the coordinator scores the last checkpoint itself; 0 (or an --evaluator-wait no longer than it): no watch, the plain wait. At least ${MIN_EVALUATOR_HEARTBEAT_TIMEOUT_MS / 1000} s; raise it if an evaluation batch can hold the evaluator's event loop longer`,
        'FLEET_EVALUATOR_HEARTBEAT_TIMEOUT',
        30_000,
        { allowZero: true },
      ),
    )
    .addOption(
      opt(
        '--keep-versions <n>',
        'checkpoint versions kept in memory for the evaluator to fetch after the master moves on',
        'FLEET_KEEP_VERSIONS',
      )
        .argParser(parseCount)
        .default(2),
    )
    .addOption(
      durationOpt('--linger <duration>', 'after the run, keep answering this long so every worker hears it is over', 'FLEET_LINGER', 3000, {
        allowZero: true,
      }),
    )
    .addOption(
      durationOpt(
        '--shutdown-grace <duration>',
        'on SIGTERM or at the end, how long calls in flight get before the server closes',
        'FLEET_SHUTDOWN_GRACE',
        5000,
        { allowZero: true },
      ),
    )
    .addOption(
      durationOpt(
        '--drain-timeout <duration>',
        "on SIGTERM/SIGINT, how long the round in hand gets to close before it is abandoned; then a checkpoint, run.finished stopped, exit --stopped-exit-code. --drain-timeout + --shutdown-grace must stay below the pod's terminationGracePeriodSeconds (30 s by default)",
        'FLEET_DRAIN_TIMEOUT',
        20_000,
        { allowZero: true },
      ),
    )
    .addOption(stoppedExitCodeOpt())
    .addOption(
      opt(
        '--shards <k>',
        'split the parameters across K aggregators (this coordinator and K-1 fleet aggregator processes), each summing and updating its slice: the bytes through any one link fall K-fold, the result is bit-identical',
        'FLEET_SHARDS',
      )
        .argParser(parseInteger)
        .default(1),
    )
    .addOption(
      opt(
        '--aggregators <host:port,...>',
        "with --shards K: the K-1 fleet aggregator processes to use, as workers reach them; 'join': wait for K-1 to join (fleet aggregator --coordinator) before the run starts (default: start them on this machine, on --aggregator-host)",
        'FLEET_AGGREGATORS',
      ),
    )
    .addOption(
      opt(
        '--aggregator-host <host>',
        'with --shards K and no --aggregators: the address the local aggregators listen on and workers reach them at',
        'FLEET_AGGREGATOR_HOST',
      ).default('127.0.0.1'),
    )
    .addOption(
      opt(
        '--contribution-check <mode>',
        "refuse a worker's gradients whose norm is above --contribution-norm-factor times the median of the 20 rounds before, or whose cosine with the round's other gradients is below -0.3, clip those above --contribution-clip-factor times that median, and quarantine a worker refused 3 times in its last 5 rounds, or whose gradient points against the others' (the lowest leave-one-out cosine, negative, in 12 of its last 20 rounds of 3 or more) (docs/architecture.md, Contribution check); auto: on unless --shards > 1 or --sync-every > 1, where on is refused",
        'FLEET_CONTRIBUTION_CHECK',
      )
        .choices(['auto', 'on', 'off'])
        .default('auto'),
    )
    .addOption(
      opt(
        '--contribution-norm-factor <f>',
        'the contribution check refuses a norm above F times the median norm of the accepted contributions of the 20 rounds before (must be above 1)',
        'FLEET_CONTRIBUTION_NORM_FACTOR',
      )
        .argParser(parseNumber)
        .default(4),
    )
    .addOption(
      opt(
        '--contribution-clip-factor <f>',
        'the contribution check scales an accepted contribution whose norm is above F times the median norm of the 20 rounds before down to that bound before summing it (1 or more; 0: never)',
        'FLEET_CONTRIBUTION_CLIP_FACTOR',
      )
        .argParser(parseNumber)
        .default(3),
    )
    .addOption(opt('--ledger', 'record how often each sample was applied, per epoch (applied-epoch-N.json)', 'FLEET_LEDGER').default(false))
    .action(async (flags: Record<string, unknown>, command: Command) => {
      // Checked first: a bad TLS file or token fails before the run directory is touched.
      const security = await grpcSecurityFromFlags(flags, 'server');
      const evaluatorHeartbeatTimeoutMs = evaluatorHeartbeatTimeoutFrom(flags);
      const fromFlags = trainConfigFrom(flags, command);
      // Before the checkpoint, the data or the port: a bad or occupied --out is refused with nothing written.
      const outMode = await checkRunOut(flags, fromFlags.outDir);
      const point = await resumeFrom(flags, command, fromFlags);
      const config = point?.config ?? fromFlags;
      // The cluster's, from this command line even on a resume (not given there: the checkpoint's count, plain).
      const workers =
        workersGiven(command) || !point ? (flags.workers as WorkerRange) : { min: config.workers, max: config.workers, elastic: false };
      const log = createRootLogger({ service: 'coordinator', run: config.runId });
      // A finished run exits 0 whatever --stopped-exit-code says: a Job's pod restarted after the end completes.
      if (finishedAlready(point, flags, log)) return;
      // As fleet train does: the coordinator reads the test set (and the train set's size) itself.
      await downloadIfAsked(config, log);
      const heartbeatTimeoutMs = flags.heartbeatTimeout as number;
      const contributionCheck = contributionCheckFrom(flags, config.syncEvery);
      const shards = await shardsFrom(flags, security, log);
      const { runCoordinatorService } = await import('../services/coordinator/coordinator-main.js');
      let end: Awaited<ReturnType<typeof runCoordinatorService>>;
      try {
        end = await runCoordinatorService(
          {
            config,
            workers,
            resume: point !== null,
            roundTimeoutMs: flags.roundTimeout as number,
            heartbeatTimeoutMs,
            heartbeatIntervalMs: Math.max(200, Math.round(heartbeatTimeoutMs / 5)),
            checkpointEveryRounds: flags.checkpointEvery as number,
            checkpointEveryMs: flags.checkpointEverySeconds as number,
            ledger: flags.ledger === true,
            host: flags.host as string,
            port: flags.port as number,
            lingerMs: flags.linger as number,
            shutdownGraceMs: flags.shutdownGrace as number,
            drainTimeoutMs: flags.drainTimeout as number,
            externalEvaluator: flags.externalEvaluator === true,
            evaluatorWaitMs: flags.evaluatorWait as number,
            evaluatorHeartbeatTimeoutMs,
            retainVersions: flags.keepVersions as number,
            ...(contributionCheck ? { contributionCheck } : {}),
            io: serviceIoFrom(flags),
            security,
            overwrite: outMode === 'overwrite',
            ...(shards ? { shards: { aggregators: shards.addresses, channel: shards.channel } } : {}),
          },
          log,
        );
      } finally {
        shards?.stop();
      }
      exitAfter(end, flags.stoppedExitCode as number, log);
    });
}

/** Three missed beats: one late beat (a long evaluation batch, a GC pause) is not a dead evaluator. */
const MIN_EVALUATOR_HEARTBEAT_TIMEOUT_MS = 3 * LIVENESS_BEAT_INTERVAL_MS;

/** --evaluator-heartbeat-timeout: 0 (off) or at least three beats. */
function evaluatorHeartbeatTimeoutFrom(flags: Record<string, unknown>): number {
  const ms = flags.evaluatorHeartbeatTimeout as number;
  if (ms !== 0 && ms < MIN_EVALUATOR_HEARTBEAT_TIMEOUT_MS)
    throw new FlagError(
      '--evaluator-heartbeat-timeout',
      ms,
      `--evaluator-heartbeat-timeout ${formatDuration(ms)}: must be 0 (off) or at least ${MIN_EVALUATOR_HEARTBEAT_TIMEOUT_MS / 1000} s (the evaluator beats once a second)`,
    );
  return ms;
}

/** --workers given (flag, variable or config file), not its default. */
function workersGiven(command: Command): boolean {
  const source = command.getOptionValueSource('workers');
  return source === 'cli' || source === 'env' || source === 'config';
}

/**
 * --progress is a training flag the coordinator shares with fleet train (which passes its flags on), but a
 * coordinator draws no bar: its help says where its progress is instead.
 */
function describeProgressHere(command: Command): Command {
  const progress = command.options.find((o) => o.long === '--progress');
  if (progress) {
    progress.description =
      "no effect on a coordinator (accepted as fleet train passes it on): its progress is its 'round closed' and 'epoch done' log lines and its events (fleet watch)";
  }
  return command;
}

/**
 * --contribution-check, --contribution-norm-factor and --contribution-clip-factor: the check's settings,
 * or null when it is off. It judges gradients (--sync-every 1) as this
 * coordinator sums them whole: with --shards K > 1 it would see only its own
 * slice while the aggregators had already taken the rest, so 'on' is refused
 * there (and with --sync-every > 1, whose contributions are parameters)
 * rather than half-done; 'auto' then leaves it off.
 */
function contributionCheckFrom(flags: Record<string, unknown>, syncEvery: number): { normFactor: number; clipFactor: number } | null {
  const mode = flags.contributionCheck as 'auto' | 'on' | 'off';
  const normFactor = flags.contributionNormFactor as number;
  if (!(normFactor > 1))
    throw new FlagError('--contribution-norm-factor', normFactor, `--contribution-norm-factor ${normFactor}: must be above 1`);
  const clipFactor = flags.contributionClipFactor as number;
  if (!(clipFactor === 0 || (clipFactor >= 1 && Number.isFinite(clipFactor))))
    throw new FlagError(
      '--contribution-clip-factor',
      clipFactor,
      `--contribution-clip-factor ${clipFactor}: must be 1 or more, or 0 for no clipping`,
    );
  const shards = flags.shards as number;
  const unsupported = shards > 1 ? `--shards ${shards}` : syncEvery > 1 ? `--sync-every ${syncEvery}` : null;
  if (unsupported && mode === 'on')
    throw new FlagError(
      '--contribution-check',
      mode,
      `--contribution-check on: not supported with ${unsupported} (it judges whole gradients summed here); use auto or off`,
    );
  return mode === 'off' || unsupported ? null : { normFactor, clipFactor };
}

/**
 * --shards K: the K-1 aggregators, listed (--aggregators), joining
 * (--aggregators join) or started here,
 * and the channel the coordinator calls them on (its token; TLS to them is
 * not supported yet). null for one aggregator.
 */
async function shardsFrom(
  flags: Record<string, unknown>,
  security: GrpcSecurity,
  log: ReturnType<typeof createRootLogger>,
): Promise<{ addresses: string[] | AggregatorJoins; channel: Awaited<ReturnType<typeof clientChannelFrom>>; stop: () => void } | null> {
  const k = flags.shards as number;
  if (!Number.isInteger(k) || k < 1)
    throw new FlagError('--shards', k, `--shards ${k}: must be 1 (one aggregator: this coordinator) or more`);
  const given = typeof flags.aggregators === 'string' ? flags.aggregators.trim() : null;
  const listed =
    given === null || given === 'join'
      ? null
      : given
          .split(',')
          .map((a) => a.trim())
          .filter((a) => a !== '');
  if (k === 1) {
    if (given !== null) throw new FlagError('--aggregators', flags.aggregators, '--aggregators needs --shards K > 1');
    return null;
  }
  if (security.tls !== null)
    throw new FlagError(
      '--shards',
      k,
      '--shards with --tls-cert is not supported yet: the coordinator calls its aggregators with its token over plaintext',
    );
  if (listed && listed.length !== k - 1)
    throw new FlagError('--aggregators', flags.aggregators, `--shards ${k} needs ${k - 1} --aggregators addresses, got ${listed.length}`);
  const channel = await clientChannelFrom({ ...security, tls: null });
  if (given === 'join') return { addresses: new AggregatorJoins(k - 1), channel, stop: () => {} };
  if (listed) return { addresses: listed, channel, stop: () => {} };
  const host = flags.aggregatorHost as string;
  const local = await startLocalAggregators(k - 1, { host, advertise: host, token: security.token, log });
  return { ...local, channel };
}
