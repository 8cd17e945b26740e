import { Command } from 'commander';

/** `fleet runs [DIR]`: the runs below a folder, oldest first. */
export function runsCommand(): Command {
  return new Command('runs')
    .description('List the runs below a folder: id, model, workers, epochs done/planned, best test accuracy, status, start time')
    .argument('[dir]', 'the folder holding run directories', 'runs')
    .action(async (dir: string) => {
      const { formatRuns, listRuns } = await import('../services/results/list-runs.js');
      const rows = await listRuns(dir);
      // The table is stdout; why a run could not be read goes to stderr.
      for (const r of rows) if (r.problem) process.stderr.write(`fleet: ${r.problem}\n`);
      process.stdout.write(rows.length > 0 ? formatRuns(rows) : `no runs below ${dir}\n`);
    });
}
