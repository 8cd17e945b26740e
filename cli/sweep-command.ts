import { Command } from 'commander';
import { serviceIoFrom } from '../src/runtime/config/service-io.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { parseGpuList } from '../services/sweep/cpu-budget.js';
import { fleetVersion } from './version.js';
import { durationOpt, opt } from './option.js';
import { parsePositiveInteger } from './parse-flag.js';
import { addNatsOptions } from './service-options.js';
import { FlagError } from '../src/runtime/config/flag-error.js';
import { DEFAULT_DATA_DIR } from './train-command.js';

/** `fleet sweep SPEC.yaml`: the spec's trials as `fleet train` processes, in parallel, pruned, resumable. */
export function sweepCommand(): Command {
  return addNatsOptions(new Command('sweep'))
    .description(
      "Run a hyperparameter sweep: the spec's trials (grid, random draws, repeats) as fleet train processes, several at once within the CPUs (or --gpus), pruned by ASHA or the median rule; writes SWEEP_DIR/sweep.json, results.csv, results.md and best.yaml",
    )
    .argument('<spec>', 'the sweep spec (YAML: name, base, parameters, ...; see docs/sweeps.md and examples/)')
    .addOption(opt('--out <dir>', 'the sweep directory (default sweeps/<sweep id>); must be new or empty unless --resume'))
    .addOption(opt('--scale <name>', "merge the spec's scales.NAME over it (e.g. quick)"))
    .addOption(
      opt(
        '--set <key=value>',
        'set a fleet train key for every trial, over the spec (repeatable), e.g. --set epochs=1 --set limitTrain=500',
      )
        .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
        .default([], 'none'),
    )
    .addOption(
      opt('--parallel <n>', "trials at once (default: the spec's parallel); lowered to fit the CPUs or GPUs").argParser(
        parsePositiveInteger,
      ),
    )
    .addOption(
      opt('--gpus <ids>', 'GPU ids to share out, one per worker (CUDA_VISIBLE_DEVICES of each trial), e.g. 0,1', 'FLEET_GPUS').argParser(
        parseGpuList,
      ),
    )
    .addOption(
      opt('--data-dir <dir>', `CIFAR-10 for every trial (default: the spec's dataDir, else ${DEFAULT_DATA_DIR})`, 'FLEET_DATA_DIR'),
    )
    .addOption(opt('--sweep-id <id>', 'the sweep id (default <name>-<yyyymmdd-hhmmss>-<4 hex>); trials run as <sweep id>-<trial id>'))
    .addOption(
      opt(
        '--resume',
        'continue the sweep in --out after a stop or crash: ended trials stay, running ones continue from their checkpoints, pending ones start',
      ).default(false),
    )
    .addOption(opt('--max-trials <n>', 'run only the first N trials of the expansion (smoke runs)').argParser(parsePositiveInteger))
    .addOption(
      durationOpt(
        '--stop-grace <duration>',
        'how long a stopped trial (pruned, interrupted, or left running by a killed sweep) gets after SIGTERM before SIGKILL',
        'FLEET_STOP_GRACE',
        30_000,
      ),
    )
    .addOption(
      opt(
        '--render-jobs <dir>',
        "write the trials as Kubernetes Jobs into DIR (new or empty), one file each, and run nothing: kubectl apply -k DIR. Each Job runs fleet train with the trial's flags in deploy/kubernetes' image, security context and volumes; no pruning (ASHA and the median rule need this driver)",
      ),
    )
    .addOption(
      opt(
        '--job-image <image>',
        `with --render-jobs: the image of the trial Jobs (default fleet:${fleetVersion()}, as deploy/kubernetes/overlays/cpu)`,
      ),
    )
    .action(async (specFile: string, flags: Record<string, unknown>) => {
      const log = createRootLogger({ service: 'sweep' });
      if (flags.renderJobs !== undefined) {
        const { checkRenderFlags, runRenderJobsCommand } = await import('../services/sweep/render-jobs-main.js');
        checkRenderFlags({
          resume: flags.resume === true,
          out: (flags.out as string | undefined) ?? null,
          gpus: (flags.gpus as string[] | undefined) ?? null,
          parallel: (flags.parallel as number | undefined) ?? null,
        });
        await runRenderJobsCommand({
          specFile,
          dir: flags.renderJobs as string,
          scale: (flags.scale as string | undefined) ?? null,
          set: flags.set as string[],
          maxTrials: (flags.maxTrials as number | undefined) ?? null,
          sweepId: (flags.sweepId as string | undefined) ?? null,
          image: (flags.jobImage as string | undefined) ?? `fleet:${fleetVersion()}`,
          log,
        });
        return;
      }
      if (flags.jobImage !== undefined)
        throw new FlagError('--job-image', flags.jobImage, '--job-image is the image of --render-jobs: give --render-jobs DIR too');
      const { runSweepCommand } = await import('../services/sweep/sweep-main.js');
      await runSweepCommand({
        specFile,
        out: (flags.out as string | undefined) ?? null,
        scale: (flags.scale as string | undefined) ?? null,
        set: flags.set as string[],
        parallel: (flags.parallel as number | undefined) ?? null,
        gpus: (flags.gpus as string[] | undefined) ?? null,
        io: serviceIoFrom(flags),
        dataDir: (flags.dataDir as string | undefined) ?? null,
        defaultDataDir: DEFAULT_DATA_DIR,
        sweepId: (flags.sweepId as string | undefined) ?? null,
        resume: flags.resume === true,
        maxTrials: (flags.maxTrials as number | undefined) ?? null,
        stopGraceMs: flags.stopGrace as number,
        log,
      });
    });
}
