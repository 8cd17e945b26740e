/** One line a child process printed: its pino record when it is one, else the raw text. */
export interface ChildLine {
  /** The process's name in the launcher: coordinator, worker-0, ..., evaluator. */
  process: string;
  stream: 'stdout' | 'stderr';
  text: string;
  /** The parsed JSON log record; null for any other text (a stack trace, tfjs's greeting). */
  record: LogRecord | null;
}

export type LogRecord = Record<string, unknown> & { level?: number; msg?: string };

/** pino's error level: such a line is always shown, whatever the view. */
export const ERROR_LEVEL = 50;

export function parseChildLine(process: string, stream: 'stdout' | 'stderr', text: string): ChildLine {
  let record: LogRecord | null = null;
  if (text.startsWith('{')) {
    try {
      const value = JSON.parse(text) as unknown;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) record = value as LogRecord;
    } catch {
      // Not a log line after all: kept as text.
    }
  }
  return { process, stream, text, record };
}

/**
 * An error a person should see: a record at error level or above, or any
 * non-JSON text on stderr (node's own crash output, `fleet: <message>`).
 */
export function isErrorLine(line: ChildLine): boolean {
  if (line.record) return typeof line.record.level === 'number' && line.record.level >= ERROR_LEVEL;
  return line.stream === 'stderr' && line.text.trim() !== '';
}

/** Fields every line carries, or that are said another way in the readable line. */
const CONTEXT = new Set(['level', 'time', 'pid', 'hostname', 'service', 'run', 'msg', 'err', 'component']);

/**
 * `<process>: <msg> (<key fields>)`: the message, the error's own message
 * and the line's other scalar fields, on one line for a terminal.
 */
export function readableLine(line: ChildLine, maxLength = 400): string {
  const r = line.record;
  if (!r) return clip(`${line.process}: ${line.text.trim()}`, maxLength);
  const parts: string[] = [];
  const err = r.err as { message?: unknown; type?: unknown } | undefined;
  if (err && typeof err === 'object' && typeof err.message === 'string') parts.push(err.message);
  for (const [key, value] of Object.entries(r)) {
    if (CONTEXT.has(key) || value === null || typeof value === 'object') continue;
    parts.push(`${key}=${typeof value === 'string' ? value : String(value)}`);
  }
  const msg = typeof r.msg === 'string' ? r.msg : '(no message)';
  return clip(`${line.process}: ${msg}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`, maxLength);
}

function clip(text: string, max: number): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' | ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 3)}...` : oneLine;
}
