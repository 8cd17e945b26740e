import { Command, CommanderError } from 'commander';
import { ConfigError } from '../src/runtime/config/train-config.js';
import { FleetError } from '../src/runtime/errors.js';
import { dataCommand } from './data-command.js';
import { trainCommand } from './train-command.js';
import { coordinatorCommand } from './coordinator-command.js';
import { workerCommand } from './worker-command.js';
import { aggregatorCommand } from './aggregator-command.js';
import { evaluatorCommand } from './evaluator-command.js';
import { healthCommand } from './health-command.js';
import { evalCommand } from './eval-command.js';
import { fleetVersion } from './version.js';
import { showCommand } from './show-command.js';
import { runsCommand } from './runs-command.js';
import { predictCommand } from './predict-command.js';
import { watchCommand } from './watch-command.js';
import { dashboardCommand } from './dashboard-command.js';
import { sweepCommand } from './sweep-command.js';
import { reportCommand } from './report-command.js';
import { applyConfigStages } from './config-stages.js';
import { attachExamples } from './examples.js';
import { InterruptedError } from '../src/training/errors.js';
import { tuneHeapForTransfers } from '../src/runtime/heap-tuning.js';
import { ExitWith } from '../src/runtime/stopped-exit.js';

/**
 * The `fleet` command and its subcommands, each with its examples after its help (also read by tests: flags, variables).
 * A command imports its service (TensorFlow.js, NATS, the report's renderer) inside its action, never at the top:
 * `--help`, a usage error and `fleet health` (a Kubernetes exec probe) then start without loading them.
 */
export function fleetProgram(): Command {
  return attachExamples(
    new Command('fleet')
      .description('Distributed data-parallel CIFAR-10 training on TensorFlow.js')
      .version(fleetVersion(), '-V, --version', "print fleet's version")
      .exitOverride()
      .showHelpAfterError('(run with --help for the flags)')
      // Variables and the config file, before any command's action reads its flags.
      .hook('preAction', (_program, command) => applyConfigStages(command))
      .addCommand(trainCommand())
      .addCommand(coordinatorCommand())
      .addCommand(workerCommand())
      .addCommand(aggregatorCommand())
      .addCommand(evaluatorCommand())
      .addCommand(healthCommand())
      .addCommand(evalCommand())
      .addCommand(showCommand())
      .addCommand(runsCommand())
      .addCommand(predictCommand())
      .addCommand(watchCommand())
      .addCommand(dashboardCommand())
      .addCommand(sweepCommand())
      .addCommand(reportCommand())
      .addCommand(dataCommand()),
  );
}

/**
 * Exit codes: 0 done, 1 the run failed, 2 bad usage or configuration, 130/143 interrupted; a service
 * stopped before its run finished: --stopped-exit-code (default 0).
 */
export async function main(argv: string[]): Promise<number> {
  tuneHeapForTransfers();
  const program = fleetProgram();
  // Every level (`fleet data download` too): commander's usage errors become exit 2, not its own exit 1,
  // and start `fleet:` like every other refusal.
  const overrideExits = (command: Command) => {
    command.exitOverride();
    command.configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'fleet: ')) });
    for (const sub of command.commands) overrideExits(sub);
  };
  overrideExits(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ExitWith) return err.exitCode;
    if (err instanceof InterruptedError) {
      process.stderr.write(`fleet: ${err.message}\n`);
      return 128 + (err.signal === 'SIGINT' ? 2 : 15); // the shell's convention for a signal exit
    }
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
