/**
 * A test file's scratch for real fleet processes: a temporary root with a
 * small generated CIFAR-10 folder in it, and every process started through
 * `track` killed (SIGKILL) in `dispose`, with the root removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import type { FleetProcess } from './fleet-processes.js';

export interface ProcessScratch {
  root: string;
  dataDir: string;
  track<T extends FleetProcess>(p: T): T;
  dispose(): Promise<void>;
}

/** 256 learnable training images and 40 test images, drawn from `seed`. */
export async function processScratch(prefix: string, seed: number): Promise<ProcessScratch> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 256, testCount: 40, pattern: 'learnable', seed });
  const started: FleetProcess[] = [];
  return {
    root,
    dataDir,
    track(p) {
      started.push(p);
      return p;
    },
    async dispose() {
      for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await rm(root, { recursive: true, force: true });
    },
  };
}
