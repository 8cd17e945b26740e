import { join } from 'node:path';
import type { BackendChoice } from '../../src/runtime/config/train-config.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { METRICS_JSONL } from '../../src/runtime/run-dir.js';
import { SWEEP_JSON } from '../../src/training/run-record/index.js';
import { exists } from './run-files.js';
import { runReport } from './run-report.js';
import { sweepReport } from './sweep-report.js';
import { writeReport, type WrittenReport } from './write-report.js';

export const REPORT_DIR = 'report';

export interface ReportOptions {
  /** A run directory (metrics.jsonl) or a sweep directory (sweep.json). */
  dir: string;
  /** Default: DIR/report. */
  out: string | null;
  dataDir: string;
  backend: BackendChoice;
  threads: number | null;
}

export interface ReportResult extends WrittenReport {
  kind: 'run' | 'sweep';
}

/** `fleet report DIR`: a run's or a sweep's report, README.md with PNG charts and report.html, in --out or DIR/report. */
export async function makeReport(o: ReportOptions, log: Logger): Promise<ReportResult> {
  const kind = (await exists(join(o.dir, SWEEP_JSON))) ? 'sweep' : (await exists(join(o.dir, METRICS_JSONL))) ? 'run' : null;
  if (kind === null) {
    const what = (await exists(o.dir)) ? 'is neither' : 'does not exist: pass';
    throw new FleetError(`${o.dir} ${what} a run directory (holding ${METRICS_JSONL}) nor a sweep directory (holding ${SWEEP_JSON})`);
  }
  const out = o.out ?? join(o.dir, REPORT_DIR);
  log.info({ dir: o.dir, kind, out }, 'writing report');
  const doc =
    kind === 'sweep'
      ? await sweepReport(o.dir, { dataDir: o.dataDir, backend: o.backend, threads: o.threads }, log)
      : await runReport({ runDir: o.dir, dataDir: o.dataDir, backend: o.backend, threads: o.threads }, log);
  return { kind, ...(await writeReport(out, doc)) };
}
