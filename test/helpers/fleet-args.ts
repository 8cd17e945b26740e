import type { Command } from 'commander';
import { fleetProgram } from '../../cli/main.js';

/** What fleet made of a command line: the subcommand that would run and its resolved flags. */
export interface ParsedFleet {
  /** e.g. 'coordinator', 'data download'. */
  path: string;
  command: Command;
  flags: Record<string, unknown>;
  /** The variables the command read: its options' FLEET_ and NATS_ names that were set. */
  variablesRead: string[];
}

/** The variables fleet reads (every option's .env()), by command path. */
export function variablesByCommand(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [path, command] of commandsOf(fleetProgram())) {
    out.set(path, new Set(command.options.map((o) => o.envVar).filter((v): v is string => Boolean(v))));
  }
  return out;
}

function commandsOf(command: Command, prefix = ''): [string, Command][] {
  return command.commands.flatMap((c) => {
    const path = prefix ? `${prefix} ${c.name()}` : c.name();
    return [[path, c] as [string, Command], ...commandsOf(c, path)];
  });
}

/**
 * Parses `fleet <args>` with fleet's own program, with `env` as the only
 * FLEET_ and NATS_ variables, exactly as the container would, but runs no
 * action: commander's parsing, the config file stage (a --config file is
 * read), mandatory flags and every value parser apply; an unknown
 * subcommand, flag, file key or bad value throws with fleet's message.
 */
export async function parseFleet(args: readonly string[], env: Record<string, string>): Promise<ParsedFleet> {
  const program = fleetProgram();
  let parsed: ParsedFleet | null = null;
  const errors: string[] = [];
  for (const [path, command] of commandsOf(program)) {
    command.exitOverride();
    command.configureOutput({ writeOut: () => {}, writeErr: (text) => errors.push(text.trim()) });
    if (command.commands.length > 0) continue;
    command.action((...actionArgs: unknown[]) => {
      const flags = actionArgs[actionArgs.length - 2] as Record<string, unknown>;
      const variablesRead = command.options.flatMap((o) => (o.envVar && env[o.envVar] !== undefined ? [o.envVar] : []));
      parsed = { path, command, flags, variablesRead };
    });
  }
  program.configureOutput({ writeOut: () => {}, writeErr: (text) => errors.push(text.trim()) });
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (/^(FLEET|NATS)_/.test(key)) delete process.env[key];
  Object.assign(process.env, env);
  try {
    await program.parseAsync(['node', 'fleet', ...args]);
  } catch (err) {
    throw new Error(`fleet ${args.join(' ')}: ${errors.join(' ') || (err as Error).message}`);
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
  if (parsed === null) throw new Error(`fleet ${args.join(' ')}: no subcommand ran`);
  return parsed;
}
