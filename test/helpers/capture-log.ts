import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/runtime/logger.js';

export interface CapturedLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger whose lines are kept (parsed) for assertions; LOG_TO_STDERR=1 echoes them. */
export function captureLog(): { log: Logger; lines: CapturedLine[]; warnings: () => CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split('\n')) {
        if (text.trim() === '') continue;
        lines.push(JSON.parse(text) as CapturedLine);
        if (process.env.LOG_TO_STDERR === '1') process.stderr.write(`${text}\n`);
      }
      callback();
    },
  });
  return { log: pino({ level: 'debug' }, destination), lines, warnings: () => lines.filter((l) => l.level === 40) };
}
