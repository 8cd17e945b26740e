import { FleetError } from '../../src/runtime/errors.js';
import { METRICS_JSONL } from '../../src/runtime/run-dir.js';
import type { MetricsLine } from '../../src/training/run-record/index.js';
import { NotARunDirectoryError, readRunFiles, runClassNames } from './read-run.js';

/** One epoch of a run as `fleet show` prints it. */
export interface EpochReport {
  runDir: string;
  model: string | null;
  /** Epochs the run was planned for, null without config.json. */
  epochs: number | null;
  classNames: string[];
  line: MetricsLine;
}

/** An `--epoch` the run has no line for. */
export class EpochNotRecordedError extends FleetError {
  constructor(
    readonly file: string,
    readonly epoch: number,
    readonly recorded: readonly number[],
  ) {
    super(
      `${file} has no line for epoch ${epoch} (${recorded.length > 0 ? `epochs recorded: ${recorded.join(', ')}` : 'no epoch recorded yet'})`,
    );
  }
}

/** The run's last epoch, or `epoch`, with the names of its classes. */
export async function epochReport(runDir: string, epoch: number | null): Promise<EpochReport> {
  const run = await readRunFiles(runDir);
  if (!run.hasMetrics) throw new NotARunDirectoryError(runDir);
  const line = epoch === null ? run.metrics.at(-1) : run.metrics.find((l) => l.epoch === epoch);
  if (!line) {
    throw new EpochNotRecordedError(
      `${runDir}/${METRICS_JSONL}`,
      epoch ?? 1,
      run.metrics.map((l) => l.epoch),
    );
  }
  return {
    runDir,
    model: run.config?.config.model ?? run.bestMeta?.model ?? null,
    epochs: run.config?.config.epochs ?? null,
    classNames: runClassNames(run),
    line,
  };
}
