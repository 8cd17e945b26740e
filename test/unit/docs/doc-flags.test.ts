import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { fleetProgram } from '../../../cli/main.js';

/**
 * Every `fleet <command> --flag` that README.md and docs/*.md show (code
 * blocks, inline code, docs/cli.md's examples) names a command and flags that
 * exist, spelled the same: a renamed or removed flag fails here, not in a
 * reader's shell.
 */

const ROOT = new URL('../../../', import.meta.url);
const DOCS = [
  'README.md',
  ...readdirSync(new URL('docs/', ROOT))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

interface Mention {
  file: string;
  /** The command line as written, from `fleet` on (or `npm start -- ...`, which is fleet train). */
  text: string;
}

/** Command lines that start with `fleet` in fenced blocks (`\` continuations joined) and in inline code. */
function fleetMentions(file: string, markdown: string): Mention[] {
  const found: string[] = [];
  const prose: string[] = [];
  let fence: string[] | null = null;
  for (const line of markdown.split('\n')) {
    if (line.trimStart().startsWith('```')) {
      if (fence === null) fence = [];
      else {
        found.push(...commandLines(fence.join('\n').replace(/\\\n\s*/g, ' ')));
        fence = null;
      }
    } else if (fence !== null) fence.push(line);
    else prose.push(line);
  }
  // Inline code may wrap across lines in a paragraph.
  for (const span of prose.join(' ').matchAll(/`([^`]+)`/g)) found.push(...commandLines(span[1]!));
  return found.map((text) => ({ file, text }));
}

/** The parts of `text` from each `fleet <word>` (or `npm start --`) on, up to a shell operator or comment. */
function commandLines(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const code = line.replace(/(^|\s)#.*$/, '');
    for (const m of code.matchAll(/(?:^|[\s(;&|=])(fleet\s+[a-z-][^|;&>#]*|npm start -- [^|;&>#]*)/g))
      out.push(m[1]!.trim().replace(/\s+/g, ' '));
  }
  return out;
}

/** What is wrong with a mention ('' when nothing): an unknown command, or flags the command does not have. */
function checkMention(program: Command, mention: string): string {
  const tokens = mention
    .replace(/^npm start --/, 'fleet train')
    .split(/\s+/)
    .map((t) => t.replace(/^\[+/, '').replace(/[\]),.:]+$/, ''))
    .filter((t) => t !== '');
  let command = program;
  let i = 1;
  // `fleet` alone, `fleet ...` or fleet's own flags (--version) stay at the root.
  while (i < tokens.length && !tokens[i]!.startsWith('-') && command.commands.length > 0) {
    const name = tokens[i]!;
    if (name === '...' || /^[A-Z_]+$/.test(name)) break;
    const next = command.commands.find((c) => c.name() === name);
    if (!next) return `no command "${[...commandPath(command), name].join(' ')}"`;
    command = next;
    i++;
  }
  const longs = new Set(['--help', ...command.options.map((o) => o.long)]);
  const shorts = new Set(['-h', ...command.options.flatMap((o) => (o.short ? [o.short] : []))]);
  const unknown: string[] = [];
  for (const token of tokens.slice(i)) {
    if (token === '--') break;
    const flag = token.split('=')[0]!;
    if (flag.startsWith('--') ? !longs.has(flag) : /^-[A-Za-z]$/.test(flag) && !shorts.has(flag)) unknown.push(flag);
  }
  return unknown.length === 0 ? '' : `${commandPath(command).join(' ')} has no ${unknown.join(', ')}`;
}

/** Other programs' command lines in inline code: their flags are not fleet's. */
const OTHER_PROGRAMS = new Set(['node', 'npm', 'npx', 'nats-server', 'kubectl', 'tar', 'curl', 'docker', 'apt-get', 'taskset']);

/** The flags named in inline code outside fleet command lines (`--resume auto`, `--tls-*`), for a check against every command's. */
function bareFlags(markdown: string): string[] {
  const prose = markdown.split(/^```.*$/m).filter((_, i) => i % 2 === 0);
  const flags: string[] = [];
  for (const span of prose.join(' ').matchAll(/`([^`]+)`/g)) {
    const text = span[1]!.replace(/\s+/g, ' ').trim();
    if (/^(fleet|npm start) /.test(text) || OTHER_PROGRAMS.has(text.split(' ')[0]!)) continue;
    for (const m of text.matchAll(/(?:^|[\s[(])(--[a-z][a-z0-9-]*\*?)/g)) flags.push(m[1]!);
  }
  return flags;
}

/** Every long flag of every command (`--tls-*` matches any of --tls-ca, --tls-cert...). */
function isFleetFlag(program: Command, flag: string): boolean {
  const all = (c: Command): string[] => [...c.options.map((o) => o.long ?? ''), ...c.commands.flatMap(all)];
  const longs = ['--help', ...all(program)];
  return flag.endsWith('*') ? longs.some((l) => l.startsWith(flag.slice(0, -1))) : longs.includes(flag);
}

function commandPath(command: Command): string[] {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names;
}

describe('README.md and docs/*.md against the fleet program', () => {
  const program = fleetProgram();
  const mentions = DOCS.flatMap((file) => fleetMentions(file, readFileSync(new URL(file, ROOT), 'utf8')));

  it('every `fleet <command> --flag` they show exists, spelled the same', () => {
    // The documents do show commands: an extraction that found nothing would pass vacuously.
    expect(mentions.filter((m) => m.file === 'README.md').length).toBeGreaterThan(10);
    expect(mentions.some((m) => m.text.startsWith('fleet watch --nats'))).toBe(true);
    const wrong = mentions.flatMap((m) => {
      const problem = checkMention(program, m.text);
      return problem === '' ? [] : [`${m.file}: \`${m.text}\`: ${problem}`];
    });
    expect(wrong).toEqual([]);
  });

  it('every flag they name in inline code on its own (`--resume auto`) is a flag of some fleet command', () => {
    const wrong = DOCS.flatMap((file) =>
      bareFlags(readFileSync(new URL(file, ROOT), 'utf8'))
        .filter((flag) => !isFleetFlag(program, flag))
        .map((flag) => `${file}: ${flag}`),
    );
    expect(wrong).toEqual([]);
    const md = 'With `--resume auto`, `--tls-*` and `--alow-partial`; `node --heap-growing-percent=N`.\n```sh\nnats-server --js\n```';
    expect(bareFlags(md)).toEqual(['--resume', '--tls-*', '--alow-partial']);
    expect(bareFlags(md).filter((f) => !isFleetFlag(program, f))).toEqual(['--alow-partial']);
  });

  it('the check fails on a flag or command that does not exist, and reads wrapped, bracketed and continued lines', () => {
    const md = [
      'Run `fleet train --epochs 1 --lerning-rate 0.1` or `fleet',
      'show RUN_DIR --epoch 2`, then `fleet watch [--run ID] [--follow]`.',
      '```sh',
      'fleet coordinator --port 7070 \\',
      '  --workers 4 --resume auto   # a comment --not-a-flag',
      'fleet worker --coordinator h:7070 | tee log --tee-flag',
      'fleet destroy --all',
      'npm start -- --epochs 5 --model resnet18',
      '```',
    ].join('\n');
    const found = fleetMentions('x.md', md).map((m) => [m.text, checkMention(program, m.text)]);
    expect(found).toEqual([
      ['fleet coordinator --port 7070 --workers 4 --resume auto', ''],
      ['fleet worker --coordinator h:7070', ''],
      ['fleet destroy --all', 'no command "fleet destroy"'],
      ['npm start -- --epochs 5 --model resnet18', ''],
      ['fleet train --epochs 1 --lerning-rate 0.1', 'fleet train has no --lerning-rate'],
      ['fleet show RUN_DIR --epoch 2', ''],
      ['fleet watch [--run ID] [--follow]', 'fleet watch has no --follow'],
    ]);
  });
});
