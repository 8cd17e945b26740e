import { InvalidArgumentError, type Command, type Option } from 'commander';
import { readConfigFile, type ConfigScalar } from '../src/runtime/config/config-file.js';
import { ConfigError, ConfigFileError, FLAG_OF, type OriginOf } from '../src/runtime/config/train-config.js';
import { parseBoolean, ValueSyntaxError } from '../src/runtime/config/value-parsers.js';
import { opt } from './option.js';

/**
 * The raw stage of configuration. Commander has already applied its part of
 * the precedence (flag > variable > default); this adds the config file
 * between variables and defaults, and reads every boolean variable with the
 * one boolean parser (commander alone takes any value of a boolean variable,
 * even 0, as true).
 */

/** --config FILE on a command. */
export function addConfigFileOption(command: Command): Command {
  return command.addOption(
    opt(
      '--config <file>',
      "read flags from this YAML file: the flags' names in camelCase (batchSize: 64); flags and variables win over it",
      'FLEET_CONFIG',
    ),
  );
}

/** Where each option's value came from, for error messages of later stages. */
interface Sources {
  file: string | null;
  /** option attribute name -> the key the file gave it under */
  fileKeys: Map<string, string>;
}

const sourcesOf = new WeakMap<Command, Sources>();

/** Commander's preAction hook: finishes the raw stage on the command about to run. Throws ConfigError (exit 2). */
export async function applyConfigStages(command: Command): Promise<void> {
  for (const option of command.options) {
    if (option.isBoolean() && option.envVar && command.getOptionValueSource(option.attributeName()) === 'env') {
      const text = process.env[option.envVar] ?? '';
      command.setOptionValueWithSource(
        option.attributeName(),
        booleanFrom(text, () => `${option.envVar} (${option.long})`),
        'env',
      );
    }
  }
  const file = command.getOptionValue('config') as string | undefined;
  const sources: Sources = { file: file ?? null, fileKeys: new Map() };
  sourcesOf.set(command, sources);
  if (!file) return;
  const byKey = optionsByKey(command);
  for (const [key, value] of await readConfigFile(file)) {
    const option = byKey.get(key);
    if (!option)
      throw new ConfigFileError(file, key, `unknown key (the keys are ${command.name()}'s flags in camelCase, e.g. batchSize)`, value);
    const name = option.attributeName();
    const earlier = sources.fileKeys.get(name);
    if (earlier !== undefined) throw new ConfigFileError(file, key, `sets ${option.long} again (also set as ${earlier})`, value);
    sources.fileKeys.set(name, key);
    const parsed = valueFor(option, value, () => `${file}: ${key} (${option.long})`);
    const source = command.getOptionValueSource(name);
    if (source === undefined || source === 'default' || source === 'implied') command.setOptionValueWithSource(name, parsed, 'config');
  }
}

/** The command's options by every name a file may use: camelCase, kebab-case, and the training config's own key (mixupAlpha for --mixup). */
function optionsByKey(command: Command): Map<string, Option> {
  const byLong = new Map(command.options.flatMap((o) => (o.long ? [[o.long, o] as const] : [])));
  const byKey = new Map<string, Option>();
  for (const o of command.options) {
    if (!o.long || o.attributeName() === 'config') continue;
    byKey.set(o.attributeName(), o);
    byKey.set(o.long.replace(/^--/, ''), o);
  }
  for (const [key, flag] of Object.entries(FLAG_OF)) {
    const o = byLong.get(flag);
    if (o) byKey.set(key, o);
  }
  return byKey;
}

function booleanFrom(text: string, where: () => string): boolean {
  try {
    return parseBoolean(text);
  } catch (err) {
    if (err instanceof ValueSyntaxError)
      throw new ConfigError([{ key: '', flag: where(), message: `expected ${err.expected}`, value: text }]);
    throw err;
  }
}

/** A file's value through the same parser as the flag's text. */
function valueFor(option: Option, value: ConfigScalar, where: () => string): unknown {
  if (option.isBoolean()) return typeof value === 'boolean' ? value : booleanFrom(String(value), where);
  const text = String(value);
  if (!option.parseArg) return text;
  try {
    return option.parseArg(text, undefined as never);
  } catch (err) {
    if (err instanceof InvalidArgumentError)
      throw new ConfigError([{ key: option.attributeName(), flag: where(), message: err.message, value }]);
    throw err;
  }
}

/** For the validated stage: names a training config key as the user set it (flag, variable or file key). */
export function originOf(command: Command): OriginOf {
  const sources = sourcesOf.get(command);
  return (key) => {
    const flag = FLAG_OF[key as keyof typeof FLAG_OF] ?? key;
    const option = command.options.find((o) => o.long === flag);
    if (!option) return flag;
    const source = command.getOptionValueSource(option.attributeName());
    if (source === 'env') return `${option.envVar} (${flag})`;
    if (source === 'config' && sources?.file) return `${sources.file}: ${sources.fileKeys.get(option.attributeName())} (${flag})`;
    return flag;
  };
}

/**
 * The options a command was given (flag, variable or file), as flags for a
 * child process: the launcher hands `fleet train`'s resolved values to the
 * coordinator it starts. Booleans appear when true.
 */
export function resolvedFlags(command: Command, include: (option: Option) => boolean): string[] {
  const out: string[] = [];
  for (const option of command.options) {
    if (!option.long || !include(option)) continue;
    const name = option.attributeName();
    const source = command.getOptionValueSource(name);
    const value = command.getOptionValue(name) as unknown;
    if (source === undefined || source === 'default' || source === 'implied' || value === undefined) continue;
    if (option.isBoolean()) {
      if (value === true) out.push(option.long);
    } else {
      out.push(option.long, String(value));
    }
  }
  return out;
}
