import type { z } from 'zod';
import { FleetError } from '../../runtime/errors.js';

/** A record that does not match its schema: a bug of the writer, or a file that is not fleet's. */
export class RunRecordError extends FleetError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** `value` checked against `schema`; a mismatch is a RunRecordError naming `file` and the first issue's path. */
export function checkedRecord<S extends z.ZodTypeAny>(schema: S, value: unknown, file: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data as z.infer<S>;
  const issue = result.error.issues[0];
  throw new RunRecordError(file, issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid');
}
