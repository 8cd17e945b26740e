import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrorLine, readableLine, type ChildLine } from './child-log-line.js';

/** The folder of the run directory that holds the children's logs. */
export const LOGS_DIR = 'logs';

/**
 * The children's output, one file per process in <run>/logs/ (appended:
 * a resumed run adds to its logs). Nothing is written before `open()`:
 * the launcher opens the folder once the coordinator listens, so the run
 * directory stays as the coordinator found it until then; earlier lines wait
 * in memory. Each process's last error line is kept for the run's summary.
 */
export class ChildLogs {
  readonly dir: string;
  private readonly pending = new Map<string, string[]>();
  private readonly files = new Map<string, WriteStream>();
  private readonly lastErrors = new Map<string, string>();
  private readonly seen = new Set<string>();
  private opened = false;

  constructor(runDir: string) {
    this.dir = join(runDir, LOGS_DIR);
  }

  /** Where `process`'s lines go. */
  pathOf(process: string): string {
    return join(this.dir, `${process}.log`);
  }

  /** The log files written: the coordinator's, the workers' in order, then the others. */
  get paths(): string[] {
    const rank = (p: string) => (p === 'coordinator' ? -1 : p.startsWith('worker-') ? Number(p.slice(7)) : Number.MAX_SAFE_INTEGER);
    return [...this.seen].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).map((process) => this.pathOf(process));
  }

  /** The last error line of `process` (readable, one line), or null. */
  lastErrorOf(process: string): string | null {
    return this.lastErrors.get(process) ?? null;
  }

  write(line: ChildLine): void {
    this.seen.add(line.process);
    if (isErrorLine(line)) this.lastErrors.set(line.process, readableLine(line));
    const text = `${line.text}\n`;
    if (!this.opened) {
      const waiting = this.pending.get(line.process) ?? [];
      waiting.push(text);
      this.pending.set(line.process, waiting);
      return;
    }
    this.fileOf(line.process).write(text);
  }

  /** Creates the folder and writes what waited; later lines go straight to the files. */
  async open(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true });
    this.opened = true;
    for (const [process, lines] of this.pending) {
      const file = this.fileOf(process);
      for (const text of lines) file.write(text);
    }
    this.pending.clear();
  }

  /** Opens (when the run failed before the coordinator listened, its lines still land), then flushes and closes every file. */
  async close(): Promise<void> {
    await this.open();
    await Promise.all(
      [...this.files.values()].map(
        (file) =>
          new Promise<void>((resolve) => {
            file.once('error', () => resolve());
            file.end(() => resolve());
          }),
      ),
    );
    this.files.clear();
  }

  private fileOf(process: string): WriteStream {
    let file = this.files.get(process);
    if (!file) {
      file = createWriteStream(this.pathOf(process), { flags: 'a' });
      // A full disk must not end the run: the terminal view goes on, the lines meanwhile are lost, and the
      // next line opens the file again (a failed stream is destroyed), so logging resumes once there is space.
      const failed = file;
      failed.on('error', () => {
        if (this.files.get(process) === failed) this.files.delete(process);
      });
      this.files.set(process, file);
    }
    return file;
  }
}
