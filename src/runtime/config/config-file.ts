import { readFile } from 'node:fs/promises';
import { ConfigFileError } from './config-error.js';

export type ConfigScalar = string | number | boolean;

/**
 * A config file (YAML, or JSON which is YAML too): one mapping from keys to
 * single values, the same keys as the flags (camelCase).
 */
export async function readConfigFile(file: string): Promise<Map<string, ConfigScalar>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(file, '', `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, file);
  }
  // Loaded only when a file is given: every fleet command starts without it.
  const { parse } = await import('yaml');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigFileError(file, '', `is not valid YAML: ${(err as Error).message.split('\n')[0]}`, null);
  }
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigFileError(file, '', 'must be a mapping of keys to values (e.g. batchSize: 64)', doc);
  const values = new Map<string, ConfigScalar>();
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ConfigFileError(file, key, 'expected a single value (text, number or boolean)', value);
    }
    values.set(key, value);
  }
  return values;
}
