import { relative } from 'node:path';
import { Command } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../src/runtime/config/train-config.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { opt, threadsOpt } from './option.js';
import { DEFAULT_DATA_DIR } from './train-command.js';

/** `fleet report RUN_DIR | SWEEP_DIR`: README.md with PNG charts and the same as one report.html. */
export function reportCommand(): Command {
  return new Command('report')
    .description(
      "Write a run's or a sweep's report: README.md with PNG charts (curves, lr schedule, confusion matrix, mistakes, augmentation; " +
        'or trial curves, parameter effects, results, ablation) and the same as one self-contained report.html',
    )
    .argument('<dir>', 'a run directory (holding metrics.jsonl) or a sweep directory (holding sweep.json)')
    .addOption(opt('--out <dir>', 'the report folder (default: <dir>/report); a report there before is replaced'))
    .addOption(
      opt(
        '--data-dir <dir>',
        "CIFAR-10 files for the pictures of test and training images (of the run, or of a sweep's best and mixing trials)",
        'FLEET_DATA_DIR',
      ).default(DEFAULT_DATA_DIR),
    )
    .addOption(
      opt('--backend <name>', "compute backend for scoring a saved model again (the run's best/, a sweep's best trial's)", 'FLEET_BACKEND')
        .choices([...BACKEND_CHOICES])
        .default('auto'),
    )
    .addOption(threadsOpt())
    .action(async (dir: string, flags: { out?: string; dataDir: string; backend: BackendChoice; threads?: number }) => {
      // Logs go to stderr: stdout says where the report is.
      const log = createRootLogger({ service: 'report' }, { destination: process.stderr, pretty: false });
      const { makeReport } = await import('../services/report/report.js');
      const report = await makeReport(
        { dir, out: flags.out ?? null, dataDir: flags.dataDir, backend: flags.backend, threads: flags.threads ?? null },
        log,
      );
      const shown = (p: string) => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p) || '.');
      process.stdout.write(
        `${report.kind} report: ${shown(report.markdown)} (${report.images.length} PNG${report.images.length === 1 ? '' : 's'} beside it), ${shown(report.html)}\n`,
      );
    });
}
