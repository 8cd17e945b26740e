import cliProgress from 'cli-progress';
import type { Logger } from './logger.js';

/** Reports progress through a unit of work (an epoch's steps, an evaluation). */
export interface Progress {
  start(label: string, total: number, fields?: Record<string, unknown>): void;
  update(done: number, fields?: Record<string, number | string>): void;
  stop(): void;
}

/**
 * A bar on a terminal; otherwise a structured log line at most every
 * `logEveryMs`, so logs collected from a cluster stay readable; 'off': nothing.
 */
export function createProgress(mode: 'auto' | 'bar' | 'log' | 'off', log: Logger, logEveryMs = 10_000): Progress {
  if (mode === 'off') return { start() {}, update() {}, stop() {} };
  const useBar = mode === 'bar' || (mode === 'auto' && process.stderr.isTTY === true);
  return useBar ? new BarProgress() : new LogProgress(log, logEveryMs);
}

class BarProgress implements Progress {
  private bar: cliProgress.SingleBar | undefined;

  start(label: string, total: number): void {
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted} {info}`,
        noTTYOutput: true,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, { info: '' });
  }

  update(done: number, fields: Record<string, number | string> = {}): void {
    const info = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : v}`)
      .join(' ');
    this.bar?.update(done, { info });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

class LogProgress implements Progress {
  private label = '';
  private total = 0;
  private lastLogMs = 0;
  private context: Record<string, unknown> = {};

  constructor(
    private readonly log: Logger,
    private readonly logEveryMs: number,
  ) {}

  start(label: string, total: number, fields: Record<string, unknown> = {}): void {
    this.label = label;
    this.total = total;
    this.context = fields;
    this.lastLogMs = Date.now();
  }

  update(done: number, fields: Record<string, number | string> = {}): void {
    const now = Date.now();
    if (now - this.lastLogMs < this.logEveryMs && done < this.total) return;
    this.lastLogMs = now;
    this.log.info({ ...this.context, ...fields, done, total: this.total }, `${this.label} ${done}/${this.total}`);
  }

  stop(): void {}
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}
