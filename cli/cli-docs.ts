import type { Command, Option } from 'commander';
import { examplesOf } from './examples.js';

/**
 * docs/cli.md, rendered from the commander program itself, so the reference
 * cannot drift from the flags: `npm run docs` writes it and a unit test fails
 * when the file differs from what this renders. Each command's examples
 * (cli/examples.ts, also shown after its --help) follow its flags.
 */
export function renderCliDocs(program: Command): string {
  const commands = commandTree(program).filter((c) => c !== program);
  const lines = [
    `# ${program.name()} command line`,
    '',
    '<!-- Generated from the commander program by `npm run docs` (cli/cli-docs.ts). Do not edit by hand. -->',
    '',
    escapeText(program.description()),
    '',
    'Where a flag lists a variable, the variable sets it too; the flag on the command line wins.',
    'Exit codes: 0 done, 1 the run failed, 2 bad usage or configuration, 130/143 interrupted (SIGINT/SIGTERM).',
    '',
    ...commands.map((c) => `- [\`${fullName(c)}\`](#${anchor(fullName(c))}): ${escapeText(c.description())}`),
  ];
  for (const command of commands) lines.push('', ...commandSection(command));
  return `${lines.join('\n')}\n`;
}

/** `root` and every command below it, depth first, in the order they were added. */
function commandTree(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => commandTree(c))];
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** GitHub's heading anchor for headings made of words, spaces and dashes. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');
}

function commandSection(command: Command): string[] {
  const lines = [`## ${fullName(command)}`, '', escapeText(command.description())];
  const args = command.registeredArguments;
  if (args.length > 0) {
    lines.push(
      '',
      `Arguments: ${args.map((a) => `\`${a.required ? `<${a.name()}>` : `[${a.name()}]`}\` ${escapeText(a.description)}`).join('; ')}.`,
    );
  }
  const subcommands = command.commands.map((c) => `\`${fullName(c)}\``);
  if (subcommands.length > 0) lines.push('', `Subcommands: ${subcommands.join(', ')}.`);
  const options = command.options.filter((o) => !o.hidden);
  if (options.length > 0) {
    lines.push('', '| flag | variable | default | choices | description |', '| --- | --- | --- | --- | --- |');
    for (const option of options) lines.push(optionRow(option));
  }
  const examples = examplesOf(command);
  if (examples.length > 0) {
    lines.push('', 'Examples:', '', '```sh');
    for (const [i, e] of examples.entries()) lines.push(...(i > 0 ? [''] : []), `# ${e.what}`, e.command);
    lines.push('```');
  }
  return lines;
}

function optionRow(option: Option): string {
  const cells = [
    `\`${option.flags}\``,
    option.envVar ? `\`${option.envVar}\`` : '',
    defaultCell(option),
    option.argChoices ? option.argChoices.map((c) => `\`${c}\``).join(', ') : '',
    escapeText(option.description),
  ];
  return `| ${cells.join(' | ')} |`;
}

function defaultCell(option: Option): string {
  if (option.mandatory) return 'required';
  if (option.defaultValueDescription) return escapeText(option.defaultValueDescription);
  const value: unknown = option.defaultValue;
  if (value === undefined) return '';
  if (value === false) return 'off';
  if (value === true) return 'on';
  // An empty code span (``) is no span at all: it would pair the cell's backticks with the next ones.
  if (value === '') return "`''`";
  return `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
}

/** Text outside code spans: a `|` would end the cell and `<x>` would read as HTML. */
function escapeText(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
