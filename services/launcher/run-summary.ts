import { basename } from 'node:path';
import type { ChildLogs } from './child-logs.js';
import type { ClusterProgress } from './cluster-progress.js';

/** What `fleet train --workers N` says when its run ends, finished or failed. */
export interface RunSummary {
  status: 'finished' | 'failed' | 'interrupted';
  /** The best test accuracy scored (fraction) and its epoch; null when nothing was scored. */
  bestAccuracy: number | null;
  bestAccuracyPercent: string | null;
  bestEpoch: number | null;
  /** Epochs whose training finished, of those planned. */
  epochsRun: number;
  epochs: number;
  wallSeconds: number;
  /** Seconds from the end of training (the last epoch's last round closing) to its test score; null when not scored. */
  finalScoreSeconds: number | null;
  runDir: string;
  logsDir: string;
  /** On failure: the process that failed, how, its last error line and its log file. */
  failed: { process: string | null; reason: string; lastError: string | null; log: string | null } | null;
}

export function summarizeRun(o: {
  progress: ClusterProgress;
  epochs: number;
  wallMs: number;
  runDir: string;
  logs: ChildLogs;
  /** null: the run finished. */
  failure: { process: string | null; reason: string; interrupted?: boolean } | null;
}): RunSummary {
  const best = o.progress.best;
  const failedProcess = o.failure?.process ?? null;
  return {
    status: o.failure ? (o.failure.interrupted ? 'interrupted' : 'failed') : 'finished',
    bestAccuracy: best?.accuracy ?? null,
    bestAccuracyPercent: best ? `${(best.accuracy * 100).toFixed(2)}%` : null,
    bestEpoch: best?.epoch ?? null,
    epochsRun: o.progress.epochsTrained,
    epochs: o.epochs,
    wallSeconds: Math.round(o.wallMs / 100) / 10,
    finalScoreSeconds: o.failure ? null : finalScoreSeconds(o.progress),
    runDir: o.runDir,
    logsDir: o.logs.dir,
    failed: o.failure
      ? {
          process: failedProcess,
          reason: o.failure.reason,
          lastError: failedProcess ? o.logs.lastErrorOf(failedProcess) : null,
          log: failedProcess ? o.logs.pathOf(failedProcess) : null,
        }
      : null,
  };
}

/** The summary for a person: a headline, then where things are. */
export function summaryLines(s: RunSummary, logFiles: readonly string[]): string[] {
  const best = s.bestAccuracyPercent !== null ? `best test accuracy ${s.bestAccuracyPercent} (epoch ${s.bestEpoch})` : 'no test score yet';
  const extent = `${s.epochsRun}/${s.epochs} epochs in ${formatSeconds(s.wallSeconds)}`;
  const headline = { finished: 'run finished', failed: 'run failed', interrupted: 'run stopped' }[s.status];
  const lines = s.failed ? [`${headline}: ${s.failed.reason}; ${extent}; ${best}`] : [`${headline}: ${best}; ${extent}`];
  if (s.finalScoreSeconds !== null) lines.push(`  final score: ${formatSeconds(s.finalScoreSeconds)} after the end of training`);
  if (s.failed?.process) {
    lines.push(`  last error: ${s.failed.lastError ?? `(none logged by ${s.failed.process})`}`);
    lines.push(`  its log: ${s.failed.log}`);
  }
  lines.push(`  run directory: ${s.runDir}`);
  lines.push(`  logs: ${s.logsDir}${logFiles.length > 0 ? ` (${logFiles.map((f) => basename(f)).join(', ')})` : ''}`);
  return lines;
}

/** A finished run's last epoch end (the end of its training) to its score. */
function finalScoreSeconds(progress: ClusterProgress): number | null {
  const ms = progress.lastEpochEnd?.scoredAfterMs ?? null;
  return ms === null ? null : Math.round(ms / 100) / 10;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const h = Math.floor(m / 60);
  const rest = Math.round(seconds - m * 60);
  return h > 0 ? `${h} h ${m % 60} min` : `${m} min ${rest} s`;
}
