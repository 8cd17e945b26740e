import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { META_JSON, saveModelFiles, type SavedModelFiles } from '../../model/index.js';
import { replaceDirectoryAtomic } from '../../runtime/atomic-dir.js';
import { CONFIG_JSON, METRICS_JSONL, openRunDir } from '../../runtime/run-dir.js';
import { bestModelMetaSchema, type BestModelMeta } from './best-model-meta.js';
import { metricsLineSchema, type MetricsLine } from './metrics-line.js';
import { checkedRecord, RunRecordError } from './record-error.js';
import { runConfigRecordSchema, type RunConfigRecord } from './run-config-record.js';

/**
 * The one writer of a run's results, whichever process trained: config.json,
 * a metrics line per epoch, best/ with its meta.json. Each is checked against
 * its schema before anything is written, and each file is replaced atomically.
 */
export interface RunRecord {
  path: string;
  bestDir: string;
  writeConfig(record: RunConfigRecord): Promise<void>;
  /** The line of `line.epoch`, replacing one already written for that epoch. */
  recordEpoch(line: MetricsLine): Promise<void>;
  /** Drops the lines of `epoch` and later (a run resumed before that epoch's end). */
  keepMetricsBefore(epoch: number): Promise<void>;
  /** best/ as a whole (weights.bin, model.json with the weights' checksum, meta.json): the old set or the new, never a mix. */
  saveBest(model: tf.LayersModel, meta: BestModelMeta): Promise<SavedModelFiles>;
  /** Any other JSON file of the run (ledger reports). */
  writeJson(name: string, value: unknown): Promise<void>;
}

export async function openRunRecord(path: string): Promise<RunRecord> {
  const dir = await openRunDir(path);
  return {
    path: dir.path,
    bestDir: dir.bestDir,
    writeConfig: (record) => dir.writeJson(CONFIG_JSON, checkedRecord(runConfigRecordSchema, record, join(path, CONFIG_JSON))),
    recordEpoch: (line) => dir.putMetricsLine(checkedRecord(metricsLineSchema, line, join(path, METRICS_JSONL))),
    keepMetricsBefore: (epoch) => dir.keepMetricsBefore(epoch),
    saveBest: async (model, meta) => {
      const checkedMeta = checkedRecord(bestModelMetaSchema, meta, join(dir.bestDir, META_JSON));
      let saved: SavedModelFiles | undefined;
      await replaceDirectoryAtomic(dir.bestDir, async (next) => {
        saved = await saveModelFiles(model, next, checkedMeta);
      });
      return { ...saved!, dir: dir.bestDir };
    },
    writeJson: (name, value) => dir.writeJson(name, value),
  };
}

/** metrics.jsonl of a run directory, each line checked against the schema. */
export async function readMetricsLines(path: string): Promise<MetricsLine[]> {
  const file = join(path, METRICS_JSONL);
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l, i) => {
      let value: unknown;
      try {
        value = JSON.parse(l);
      } catch (err) {
        throw new RunRecordError(`${file}:${i + 1}`, (err as Error).message);
      }
      return checkedRecord(metricsLineSchema, value, `${file}:${i + 1}`);
    });
}
