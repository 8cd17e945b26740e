import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { eventPayloadSchemas, type EventPayloads } from '../../../src/events/index.js';
import { writeFileAtomic } from '../../../src/runtime/atomic-file.js';
import { FleetError } from '../../../src/runtime/errors.js';
import { metricsLineSchema, type MetricsLine } from '../../../src/training/run-record/index.js';

export const EVALUATOR_STATE_FILE = 'evaluator-state.json';

const stateSchema = z.object({
  run: z.string(),
  /** Every version scored, with the eval event it produced (re-published as is after a crash). */
  evaluated: z.record(z.string(), eventPayloadSchemas.eval),
  skipped: z.array(z.number().int()),
  best: z.object({ version: z.number().int(), epoch: z.number().int(), accuracy: z.number() }).nullable(),
  /** The epoch-end lines written to metrics.jsonl: a checkpoint given again writes its line again (it replaces itself). */
  metricsLines: z.array(metricsLineSchema),
});

export type EvaluatorState = z.infer<typeof stateSchema>;

export class EvaluatorStateError extends FleetError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`evaluator state ${path} is unusable: ${reason} (move it away to start the evaluation over)`);
  }
}

/**
 * What the evaluator has done for a run, on disk in the run directory. It
 * makes every step of an evaluation idempotent: a checkpoint event delivered
 * again (after a crash or a lost acknowledgement) finds its version here.
 */
export class EvaluatorStateFile {
  private constructor(
    readonly dir: string,
    private state: EvaluatorState,
  ) {}

  static async open(dir: string, run: string): Promise<EvaluatorStateFile> {
    const path = join(dir, EVALUATOR_STATE_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return new EvaluatorStateFile(dir, { run, evaluated: {}, skipped: [], best: null, metricsLines: [] });
    }
    let parsed: EvaluatorState;
    try {
      parsed = stateSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new EvaluatorStateError(path, (err as Error).message.split('\n')[0] ?? 'invalid');
    }
    if (parsed.run !== run) throw new EvaluatorStateError(path, `it belongs to run ${parsed.run}, not ${run}`);
    return new EvaluatorStateFile(dir, parsed);
  }

  evaluation(version: number): EventPayloads['eval'] | undefined {
    return this.state.evaluated[String(version)];
  }

  isSkipped(version: number): boolean {
    return this.state.skipped.includes(version);
  }

  get best(): EvaluatorState['best'] {
    return this.state.best;
  }

  /** The metrics line recorded with `version`'s evaluation (epoch ends only). */
  metricsLine(version: number): MetricsLine | undefined {
    return this.state.metricsLines.find((l) => l.version === version);
  }

  /** The newest version scored (a restarted evaluator's metrics start from it). */
  get latest(): EventPayloads['eval'] | undefined {
    let latest: EventPayloads['eval'] | undefined;
    for (const e of Object.values(this.state.evaluated)) if (!latest || e.version > latest.version) latest = e;
    return latest;
  }

  get evaluatedCount(): number {
    return Object.keys(this.state.evaluated).length;
  }

  async recordEvaluation(e: EventPayloads['eval'], metricsLine: MetricsLine | null): Promise<void> {
    const next: EvaluatorState = {
      ...this.state,
      evaluated: { ...this.state.evaluated, [String(e.version)]: e },
      best: e.best ? { version: e.version, epoch: e.epoch, accuracy: e.accuracy } : this.state.best,
      metricsLines: metricsLine ? [...this.state.metricsLines, metricsLine] : this.state.metricsLines,
    };
    await this.save(next);
  }

  async recordSkip(version: number): Promise<void> {
    await this.save({ ...this.state, skipped: [...this.state.skipped, version] });
  }

  /** Writes the state held in memory again (after a write the disk refused). */
  async flush(): Promise<void> {
    await this.save(this.state);
  }

  /** The newest metrics line recorded. */
  get lastMetricsLine(): MetricsLine | undefined {
    return this.state.metricsLines.reduce<MetricsLine | undefined>((last, l) => (!last || l.epoch > last.epoch ? l : last), undefined);
  }

  get path(): string {
    return join(this.dir, EVALUATOR_STATE_FILE);
  }

  /**
   * Held in memory before the write: when the disk refuses it (a full disk) the file keeps its previous
   * content, the evaluator goes on from memory, and the next save writes everything.
   */
  private async save(next: EvaluatorState): Promise<void> {
    this.state = next;
    await writeFileAtomic(this.path, `${JSON.stringify(next)}\n`);
  }
}
