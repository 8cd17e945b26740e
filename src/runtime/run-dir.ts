import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** A run's folder: config.json, metrics.jsonl (a JSON object a line), best/. */
export interface RunDir {
  path: string;
  bestDir: string;
  writeConfig(config: unknown): Promise<void>;
  appendMetrics(record: Record<string, unknown>): Promise<void>;
  /**
   * Keeps only the metrics lines of epochs before `epoch` (atomically): a run
   * resumed from a checkpoint taken before an epoch's end writes that epoch's
   * line again, and the line a crashed process wrote after its last checkpoint
   * must not stay beside it. Torn lines go too.
   */
  keepMetricsBefore(epoch: number): Promise<void>;
  /** Any other JSON file of the run, written atomically. */
  writeJson(name: string, value: unknown): Promise<void>;
}

export async function openRunDir(path: string): Promise<RunDir> {
  await mkdir(path, { recursive: true });
  const metricsPath = join(path, 'metrics.jsonl');
  const writeJson = (name: string, value: unknown) => writeFileAtomic(join(path, name), `${JSON.stringify(value, null, 2)}\n`);
  return {
    path,
    bestDir: join(path, 'best'),
    // One write call per line: a crash leaves at most a torn last line, never a torn middle.
    appendMetrics: (record) => appendFile(metricsPath, `${JSON.stringify(record)}\n`),
    keepMetricsBefore: async (epoch) => {
      let text: string;
      try {
        text = await readFile(metricsPath, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      const kept = text.split('\n').filter((line) => {
        try {
          const e = (JSON.parse(line) as { epoch?: unknown }).epoch;
          return typeof e === 'number' && e < epoch;
        } catch {
          return false;
        }
      });
      const next = kept.map((l) => `${l}\n`).join('');
      if (next !== text) await writeFileAtomic(metricsPath, next);
    },
    writeConfig: (config) => writeJson('config.json', config),
    writeJson,
  };
}

/** A run id that sorts by time and names the model: 20261128-151400-cnn-3fa2. */
export function newRunId(model: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const suffix = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return `${stamp}-${model}-${suffix}`;
}
