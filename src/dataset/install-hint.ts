import { basename } from 'node:path';
import { CIFAR10_MD5, CIFAR10_URL, META_FILE, TEST_FILE, TRAIN_FILES, type Cifar10SplitName } from './cifar10-format.js';
import { canonicalBatchesDir, extractParentDir } from './data-dir.js';

/**
 * How to get the files by hand. Shared by the loader's and the downloader's
 * errors so both name the same folder, the same file names and the same commands.
 * `split`: the split found incomplete; a missing test_batch.bin has no
 * partial way out, so the --allow-partial sentence is only for train (and
 * for a failed download, which lacks both).
 */
export function manualInstallHint(dir: string, url: string = CIFAR10_URL, split?: Cifar10SplitName): string {
  const target = canonicalBatchesDir(dir);
  const alt = target === dir || basename(dir) === basename(target) ? '' : ` (or directly in ${dir})`;
  return (
    `Put ${TRAIN_FILES.join(', ')}, ${TEST_FILE} and ${META_FILE} in ${target}/${alt}: ` +
    `pass --download to fleet train or fleet coordinator, or run \`fleet data download\`, where the internet is reachable; or download ${url} (md5 ${CIFAR10_MD5}) ` +
    `and run \`tar xzf cifar-10-binary.tar.gz -C ${extractParentDir(dir)}\`.` +
    (split === 'test' ? '' : ` ${PARTIAL_HINT}`)
  );
}

/**
 * --allow-partial is a setting of the run, given where the run starts
 * (fleet train, fleet coordinator): a worker takes it from the coordinator
 * and has no such flag.
 */
export const PARTIAL_HINT =
  'To train on whichever data_batch_N.bin files are present, start the run with --allow-partial ' +
  "(fleet train or fleet coordinator; workers follow the coordinator's setting).";
