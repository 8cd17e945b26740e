import { Command } from 'commander';
import { classTables, mostConfusedPair, percent, scoreSummary, weakestClasses } from '../src/training/run-record/score-tables.js';
import type { EpochReport } from '../services/results/epoch-report.js';
import { opt } from './option.js';
import { parsePositiveInteger } from './parse-flag.js';

/** `fleet show RUN_DIR`: one epoch of a run with class names: accuracy, loss, per-class table, confusion matrix. */
export function showCommand(): Command {
  return new Command('show')
    .description("Print a run's last (or --epoch N) epoch: test accuracy, loss, weakest classes, per-class accuracy, confusion matrix")
    .argument('<run-dir>', 'a run directory (holding metrics.jsonl)')
    .addOption(opt('--epoch <n>', 'the epoch to show (default: the last recorded)').argParser(parsePositiveInteger))
    .addOption(opt('--json', 'print the epoch as one JSON object instead of tables').default(false))
    .action(async (runDir: string, flags: { epoch?: number; json: boolean }) => {
      const { epochReport } = await import('../services/results/epoch-report.js');
      const report = await epochReport(runDir, flags.epoch ?? null);
      process.stdout.write(flags.json ? `${JSON.stringify(reportJson(report))}\n` : formatReport(report));
    });
}

function scoresOf(r: EpochReport) {
  return { classNames: r.classNames, perClassAccuracy: r.line.perClassAccuracy, confusion: r.line.confusion };
}

function reportJson(r: EpochReport) {
  const scores = scoresOf(r);
  return {
    runDir: r.runDir,
    model: r.model,
    epochs: r.epochs,
    classNames: r.classNames,
    ...r.line,
    weakest: weakestClasses(scores),
    mostConfused: mostConfusedPair(scores),
  };
}

function formatReport(r: EpochReport): string {
  const { line } = r;
  const scores = scoresOf(r);
  const lines = [
    `${r.runDir}: ${r.model ?? 'model ?'}, epoch ${line.epoch} of ${r.epochs ?? '?'}${line.workers ? `, ${line.workers} workers` : ''}`,
    `test accuracy ${percent(line.testAccuracy)}  loss ${line.testLoss.toFixed(4)}  (train ${percent(line.trainAccuracy)}, loss ${line.trainLoss.toFixed(4)})`,
    ...scoreSummary(scores),
    '',
    ...classTables(scores),
  ];
  return `${lines.join('\n')}\n`;
}
