import { basename } from 'node:path';
import { CIFAR10_MD5, CIFAR10_URL, META_FILE, TEST_FILE, TRAIN_FILES } from './cifar10-format.js';
import { canonicalBatchesDir, extractParentDir } from './data-dir.js';

/**
 * How to get the files by hand. Shared by the loader's and the downloader's
 * errors so both name the same folder, the same file names and the same commands.
 */
export function manualInstallHint(dir: string, url: string = CIFAR10_URL): string {
  const target = canonicalBatchesDir(dir);
  const alt = target === dir || basename(dir) === basename(target) ? '' : ` (or directly in ${dir})`;
  return (
    `Put ${TRAIN_FILES.join(', ')}, ${TEST_FILE} and ${META_FILE} in ${target}/${alt}: ` +
    `run \`fleet data download\` where the internet is reachable, or download ${url} (md5 ${CIFAR10_MD5}) ` +
    `and run \`tar xzf cifar-10-binary.tar.gz -C ${extractParentDir(dir)}\`. ` +
    `To train on whichever data_batch_N.bin files are present, pass --allow-partial.`
  );
}
