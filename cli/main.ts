import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/train-config.js';
import { FleetError } from '../runtime/errors.js';
import { dataCommand } from './data-command.js';
import { trainCommand } from './train-command.js';

/** Exit codes: 0 done, 1 the run failed, 2 bad usage or configuration. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('fleet')
    .description('Distributed data-parallel CIFAR-10 training on TensorFlow.js')
    .exitOverride()
    .showHelpAfterError('(run with --help for the flags)')
    .addCommand(trainCommand())
    .addCommand(dataCommand());
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError) {
      process.stderr.write(`fleet: ${err.message}\n`);
      return 2;
    }
    if (err instanceof FleetError) {
      process.stderr.write(`fleet: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
