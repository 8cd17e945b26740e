import { readClassNames } from './class-names.js';
import { resolveBatchesDir } from './data-dir.js';
import { loadCifar10Split, type Cifar10Split } from './load-split.js';
import { findSplitFiles } from './split-files.js';

export interface Cifar10 {
  train: Cifar10Split;
  test: Cifar10Split;
  /** Ten names in label order, from batches.meta.txt or the standard ones. */
  classNames: string[];
}

export interface LoadCifar10Options {
  /** The folder holding the .bin files, or its parent holding cifar-10-batches-bin/. */
  dir: string;
  /** Use whichever data_batch_N.bin exist instead of requiring all five. */
  allowPartial: boolean;
  limitTrain?: number | undefined;
  limitTest?: number | undefined;
}

/** Both splits and the class names; see loadCifar10Split for the checks made. */
export async function loadCifar10(options: LoadCifar10Options): Promise<Cifar10> {
  const dir = await resolveBatchesDir(options.dir);
  // Cheap checks first (meta, both splits' files): a bad folder should fail
  // before 180 MB are read, and a missing test_batch.bin before train is decoded.
  const classNames = await readClassNames(dir);
  await findSplitFiles(dir, 'train', options.allowPartial);
  await findSplitFiles(dir, 'test', options.allowPartial);
  const train = await loadCifar10Split({ dir, split: 'train', allowPartial: options.allowPartial, limit: options.limitTrain });
  const test = await loadCifar10Split({ dir, split: 'test', allowPartial: options.allowPartial, limit: options.limitTest });
  return { train, test, classNames };
}

/** What a run's configuration says about its data; a null limit takes the whole split. */
export interface RunDataSettings {
  dataDir: string;
  allowPartial: boolean;
  limitTrain: number | null;
  limitTest: number | null;
}

/** loadCifar10 as a run's configuration asks for it (the trainer and the coordinator load the same way). */
export function loadRunData(s: RunDataSettings): Promise<Cifar10> {
  return loadCifar10({
    dir: s.dataDir,
    allowPartial: s.allowPartial,
    limitTrain: s.limitTrain ?? undefined,
    limitTest: s.limitTest ?? undefined,
  });
}
