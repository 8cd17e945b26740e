import { FleetError } from '../../src/runtime/errors.js';
import { META_JSON } from '../../src/model/index.js';
import { BEST_DIR, CONFIG_JSON, METRICS_JSONL } from '../../src/runtime/run-dir.js';
import { NotARunDirectoryError, readRunDirectory, type MetricsLine, type RunDirectoryFiles } from '../../src/training/run-record/index.js';

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
  const run = await readRunDirectory(runDir);
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

/** The class names in label order, from config.json or else best/meta.json. */
function runClassNames(run: RunDirectoryFiles): string[] {
  const names = run.config?.data.classNames ?? run.bestMeta?.classNames;
  if (!names) throw new FleetError(`${run.dir}: neither ${CONFIG_JSON} nor ${BEST_DIR}/${META_JSON} names the classes`);
  return names;
}
