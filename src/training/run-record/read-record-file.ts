import { readFile, stat } from 'node:fs/promises';
import type { z } from 'zod';
import { checkedRecord, RunRecordError } from './record-error.js';

/** A JSON file checked against `schema`; unreadable, not JSON or not matching is a RunRecordError naming the file. */
export async function readRecordFile<S extends z.ZodTypeAny>(file: string, schema: S): Promise<z.infer<S>> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new RunRecordError(file, (err as Error).message);
  }
  return checkedRecord(schema, value, file);
}

/** readRecordFile, or null when the file does not exist. */
export async function readOptionalRecordFile<S extends z.ZodTypeAny>(file: string, schema: S): Promise<z.infer<S> | null> {
  return (await fileTime(file)) === null ? null : readRecordFile(file, schema);
}

/** When `path` was last modified, or null when it does not exist. */
export async function fileTime(path: string): Promise<Date | null> {
  try {
    return (await stat(path)).mtime;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
