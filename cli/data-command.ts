import { Command } from 'commander';
import { createRootLogger } from '../src/runtime/logger.js';
import { checkOutDir } from '../src/runtime/out-dir.js';
import { opt } from './option.js';
import { DEFAULT_DATA_DIR } from './train-command.js';

/** `fleet data download`: fetch, verify and unpack the official CIFAR-10 binary release. */
export function dataCommand(): Command {
  const data = new Command('data').description('Manage the CIFAR-10 data set');
  data
    .command('download')
    .description('Download cifar-10-binary.tar.gz, check its MD5 and unpack it')
    .addOption(opt('--dir <dir>', 'where to put the data', 'FLEET_DATA_DIR').default(DEFAULT_DATA_DIR))
    .addOption(opt('--url <url>', 'where to download from (a mirror)', 'FLEET_DATA_URL'))
    .action(async (flags: { dir: string; url?: string }) => {
      // A file, a path under one, an unwritable or virtual folder: refused before any download (exit 2).
      await checkOutDir(flags.dir, { mode: 'shared', flag: '--dir' });
      const log = createRootLogger({ service: 'data' });
      const { downloadCifar10 } = await import('../src/dataset/index.js');
      await downloadCifar10({ dir: flags.dir, log, ...(flags.url ? { url: flags.url } : {}) });
    });
  return data;
}
