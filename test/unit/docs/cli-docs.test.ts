import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { renderCliDocs } from '../../../cli/cli-docs.js';
import { fleetProgram } from '../../../cli/main.js';

const CLI_MD = new URL('../../../docs/cli.md', import.meta.url);

describe('docs/cli.md', () => {
  it('is what the commander program renders today', async () => {
    const onDisk = await readFile(CLI_MD, 'utf8');
    expect(onDisk, 'docs/cli.md is stale: run `npm run docs`').toBe(renderCliDocs(fleetProgram()));
  });

  it('has a section per command, nested ones included, and a row per flag with its variable, default and choices', () => {
    const program = new Command('tool').description('A tool');
    const data = new Command('data').description('Manage data');
    data.command('fetch').description('Fetch it').addOption(new Option('--url <url>', 'a mirror').env('TOOL_URL'));
    program.addCommand(
      new Command('run')
        .description('Run <it>')
        .addOption(new Option('--mode <m>', 'a | b').env('TOOL_MODE').choices(['fast', 'slow']).default('fast'))
        .addOption(new Option('--dry', 'only say what would run').default(false))
        .addOption(new Option('--target <host>', 'where').makeOptionMandatory())
        .addOption(new Option('--secret <x>', 'not for users').hideHelp()),
    );
    program.addCommand(data);

    const md = renderCliDocs(program);
    expect(md).toContain('- [`tool run`](#tool-run): Run &lt;it&gt;');
    expect(md).toContain('## tool run\n\nRun &lt;it&gt;');
    expect(md).toContain('| `--mode <m>` | `TOOL_MODE` | `fast` | `fast`, `slow` | a \\| b |');
    expect(md).toContain('| `--dry` |  | off |  | only say what would run |');
    expect(md).toContain('| `--target <host>` |  | required |  | where |');
    expect(md).not.toContain('--secret');
    expect(md).toContain('## tool data\n\nManage data\n\nSubcommands: `tool data fetch`.');
    expect(md).toContain('## tool data fetch');
    expect(md).toContain('| `--url <url>` | `TOOL_URL` |  |  | a mirror |');
  });
});
