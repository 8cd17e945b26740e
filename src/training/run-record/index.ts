// The run contract: what a run directory holds, written the same way by every process that trains (docs/run-directory.md).
export { bestModelMeta, bestModelMetaSchema, type BestModelMeta } from './best-model-meta.js';
export {
  epochTraining,
  epochTrainingSchema,
  metricsLine,
  metricsLineSchema,
  rate,
  type EpochTotals,
  type EpochTraining,
  type MetricsLine,
} from './metrics-line.js';
export { runConfigRecord, runConfigRecordSchema, type RunConfigRecord } from './run-config-record.js';
export { fileTime, readOptionalRecordFile, readRecordFile } from './read-record-file.js';
export { isRunDirectory, NotARunDirectoryError, readRunDirectory, type RunDirectoryFiles } from './read-run-files.js';
export { listRuns, type RunRow, type RunStatus } from './list-runs.js';
export { checkedRecord, RunRecordError } from './record-error.js';
export { openRunRecord, readMetricsLines, type RunRecord } from './run-record.js';
export {
  ABLATION_PARAM,
  ABLATION_REFERENCE,
  pendingTrialRecord,
  PRUNING_RULES,
  readSweepRecord,
  SWEEP_JSON,
  SWEEP_METRICS,
  SWEEP_STATUSES,
  sweepRecordSchema,
  TRIAL_STATUSES,
  trialRecordSchema,
  VARIANT_PARAM,
  writeSweepRecord,
  type PruningRule,
  type SweepRecord,
  type TrialRecord,
  type TrialStatus,
} from './sweep-record.js';
