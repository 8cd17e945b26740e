import { Command, InvalidArgumentError, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { renderCliDocs } from '../../../cli/cli-docs.js';
import { attachExamples, EXAMPLES, examplesOf } from '../../../cli/examples.js';
import { fleetProgram } from '../../../cli/main.js';
import { choicesOf } from '../../../cli/option.js';
import { MODEL_CHOICES, TEST_MODEL_CHOICES } from '../../../src/runtime/config/run-config.js';

/** A command by its name below `fleet` ('data download'). */
function commandAt(program: Command, path: string): Command {
  let command = program;
  for (const name of path.split(' ')) {
    const next = command.commands.find((c) => c.name() === name);
    if (!next) throw new Error(`no command ${path}`);
    command = next;
  }
  return command;
}

/** What `fleet <path> --help` prints, the text added after the flags included. */
function helpOf(path: string): string {
  const command = commandAt(fleetProgram(), path);
  const parts: string[] = [];
  command.configureOutput({ writeOut: (s) => parts.push(s), writeErr: (s) => parts.push(s) });
  command.outputHelp();
  return parts.join('');
}

const EXAMPLED = [
  'train',
  'coordinator',
  'worker',
  'evaluator',
  'health',
  'eval',
  'show',
  'runs',
  'predict',
  'watch',
  'dashboard',
  'sweep',
  'report',
  'data download',
];

describe('the test models', () => {
  it('are accepted by --model but appear in no help, no error message and not in docs/cli.md', () => {
    const program = fleetProgram();
    for (const path of ['train', 'coordinator']) {
      const model = commandAt(program, path).options.find((o) => o.long === '--model')!;
      for (const name of [...MODEL_CHOICES, ...TEST_MODEL_CHOICES]) expect(model.parseArg!(name, undefined)).toBe(name);
      expect(() => model.parseArg!('tiny-resnet', undefined)).toThrow(
        new InvalidArgumentError(`Allowed choices are ${MODEL_CHOICES.join(', ')}.`),
      );
      const help = helpOf(path);
      expect(help).toContain('--model <name>');
      expect(help).toMatch(/choices: "cnn", "resnet",\s+"resnet18"/);
      expect(help).not.toContain('tiny');
    }
    expect(renderCliDocs(program)).not.toContain('tiny');
  });

  it('choicesOf lists only the shown values, accepts the hidden ones too', () => {
    const option = choicesOf(new Option('--mode <m>', 'how'), ['fast', 'slow'], ['test']);
    expect(option.argChoices).toEqual(['fast', 'slow']);
    expect(option.parseArg!('test', undefined)).toBe('test');
    expect(() => option.parseArg!('quick', undefined)).toThrow('Allowed choices are fast, slow.');
  });
});

describe('examples', () => {
  it('follow the flags in the --help of every command that does something', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual([...EXAMPLED].sort());
    for (const path of EXAMPLED) {
      const help = helpOf(path);
      const at = help.indexOf('\nExamples:\n');
      expect(at, `fleet ${path} --help has examples`).toBeGreaterThan(help.indexOf('--help'));
      for (const e of EXAMPLES[path]!) {
        expect(e.command.startsWith(`fleet ${path}`) || e.command.includes(` fleet ${path}`)).toBe(true);
        expect(help.slice(at)).toContain(`  # ${e.what}\n  ${e.command}\n`);
      }
    }
  });

  it('are in docs/cli.md, in each command section after its flags', () => {
    const program = fleetProgram();
    const md = renderCliDocs(program);
    for (const path of EXAMPLED) {
      const section = md.slice(md.indexOf(`\n## fleet ${path}\n`)).split(/\n## /)[1]!;
      const examples = examplesOf(commandAt(program, path));
      expect(examples).toEqual(EXAMPLES[path]);
      expect(section).toContain(`Examples:\n\n\`\`\`sh\n# ${examples[0]!.what}\n${examples[0]!.command}\n`);
      expect(section.indexOf('Examples:')).toBeGreaterThan(section.lastIndexOf('| `--'));
    }
  });

  it('refuse to attach to a command that does not exist', () => {
    const program = new Command('tool').addCommand(new Command('run'));
    expect(() => attachExamples(program, { walk: [{ what: 'x', command: 'tool walk' }] })).toThrow(
      'examples for "tool walk": no such command',
    );
  });
});
