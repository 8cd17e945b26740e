import { join } from 'node:path';

/**
 * `fleet train` of the tiny model for one epoch on generated data (wasm,
 * log progress, --allow-partial): the cheapest whole run of launcher,
 * coordinator, workers and, with NATS, evaluator. `extra` goes last.
 */
export function tinyTrainArgs(o: {
  dataDir: string;
  root: string;
  run: string;
  /** --out's folder in `root` (default the run id). */
  outName?: string;
  workers?: number;
  extra?: string[];
}): string[] {
  return [
    'train',
    ...['--workers', String(o.workers ?? 1), '--model', 'tiny', '--epochs', '1', '--batch-size', '16', '--warmup-epochs', '0'],
    ...['--data-dir', o.dataDir, '--allow-partial', '--backend', 'wasm', '--progress', 'log'],
    ...['--run-id', o.run, '--out', join(o.root, o.outName ?? o.run)],
    ...(o.extra ?? []),
  ];
}
