import cliProgress from 'cli-progress';
import { Writable } from 'node:stream';
import type { ProgressChoice } from '../../src/runtime/config/machine-config.js';
import { createRootLogger, type Logger, type LogScope } from '../../src/runtime/logger.js';
import { parseChildLine, readableLine, type ChildLine } from './child-log-line.js';
import {
  ClusterProgress,
  type ClusterEvent,
  type EpochScore,
  type EpochTrained,
  type EpochView,
  type WorkerView,
} from './cluster-progress.js';
import { summaryLines, type RunSummary } from './run-summary.js';

/** bar: the live view on a terminal; log: one JSON line per event; off: errors and the summary only. */
export type ViewMode = 'bar' | 'log' | 'off';

/** `--progress auto` draws where stdout is a terminal, and writes JSON lines where it is not. */
export function viewModeOf(progress: ProgressChoice, stdoutIsTTY: boolean): ViewMode {
  if (progress === 'auto') return stdoutIsTTY ? 'bar' : 'log';
  return progress;
}

export interface ClusterViewOptions {
  mode: ViewMode;
  /** The children's own lines on the terminal too (they always go to logs/). */
  verbose: boolean;
  epochs: number;
  /** The worker processes' names (worker-0, ...). */
  workers: readonly string[];
  /** The launcher's logger (log and off modes write through it). */
  log: Logger;
  /** For the bar mode's own logger. */
  scope: LogScope;
  out?: NodeJS.WriteStream;
}

/**
 * What `fleet train --workers N` shows while its processes run: their log
 * lines, parsed and folded (ClusterProgress), become a progress bar over the
 * epoch's global images with a line per worker and each epoch's result
 * (bar), or one structured line per event (log); errors (level >= 50) are
 * shown in every mode, the children's other lines only with --verbose.
 */
export class ClusterView {
  readonly progress: ClusterProgress;
  /** The launcher's own logger for the run: on the bar view its lines are printed above the bars. */
  readonly log: Logger;
  private readonly screen: Screen;

  constructor(private readonly o: ClusterViewOptions) {
    this.progress = new ClusterProgress(o.workers);
    const out = o.out ?? process.stdout;
    if (o.mode === 'bar') {
      const bars = new BarScreen(out, o.epochs, o.workers);
      this.screen = bars;
      this.log = createRootLogger(o.scope, { destination: noteStream((text) => bars.note(text)) });
    } else {
      this.screen = o.mode === 'log' ? new LogScreen(o.log, o.epochs) : new OffScreen();
      this.log = o.log;
    }
  }

  /** The processes are about to start (with or without an evaluator). */
  start(evaluator: boolean): void {
    this.screen.start(evaluator);
  }

  line(line: ChildLine): void {
    if (this.o.verbose) this.screen.raw(line.text);
    this.tell(this.progress.take(line));
  }

  exited(process: string, code: number | null, signal: string | null, stopping: boolean): void {
    this.tell(this.progress.exited(process, code, signal, stopping));
  }

  /** The run ended: the view stops and the summary is printed. */
  finish(summary: RunSummary, logFiles: readonly string[]): void {
    this.tell(this.progress.flush());
    this.screen.finish(summary, logFiles);
  }

  private tell(events: ClusterEvent[]): void {
    for (const e of events) {
      if (e.type === 'error') {
        // Already on the terminal with --verbose.
        if (!this.o.verbose) this.screen.error(e.line);
      } else this.screen.event(e);
    }
  }
}

interface Screen {
  start(evaluator: boolean): void;
  event(e: Exclude<ClusterEvent, { type: 'error' }>): void;
  error(line: ChildLine): void;
  raw(text: string): void;
  finish(summary: RunSummary, logFiles: readonly string[]): void;
}

/** A logger destination that hands each line's readable form to `note`. */
function noteStream(note: (text: string) => void): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) if (text.trim() !== '') note(readableLine(parseChildLine('fleet', 'stdout', text)));
      done();
    },
  });
}

const ERASE_LINE = '\x1b[2K';
const EPOCH_FORMAT =
  'epoch {epoch}/{epochs} [{bar}] {value}/{total} img {percentage}% | loss {loss} acc {acc} lr {lr} | {speed} img/s | eta {eta_formatted}';

/** The live view: an epoch bar, a line per worker (and the evaluator), history printed above them. */
class BarScreen implements Screen {
  private multibar: cliProgress.MultiBar | null = null;
  private epochBar: cliProgress.SingleBar | null = null;
  private readonly workerBars = new Map<string, cliProgress.SingleBar>();
  private evaluatorBar: cliProgress.SingleBar | null = null;
  private epochNumber = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly epochs: number,
    private readonly workers: readonly string[],
  ) {}

  start(evaluator: boolean): void {
    const multibar = new cliProgress.MultiBar(
      // forceRedraw: lines printed above the bars move them down; an unchanged bar must still be drawn again.
      { stream: this.out, hideCursor: true, noTTYOutput: true, clearOnComplete: false, gracefulExit: false, fps: 5, forceRedraw: true },
      cliProgress.Presets.shades_classic,
    );
    this.multibar = multibar;
    const text: cliProgress.GenericFormatter = (_options, _params, payload: { text: string }) => payload.text;
    const epochFormat: cliProgress.GenericFormatter = (options, params, payload: { waiting?: string }) =>
      payload.waiting ?? cliProgress.Format.Formatter({ ...options, format: EPOCH_FORMAT }, params, payload);
    this.epochBar = multibar.create(1, 0, { waiting: `epoch -/${this.epochs} waiting for the workers` }, { format: epochFormat });
    for (const name of this.workers) this.workerBars.set(name, multibar.create(1, 0, { text: workerText(null, name) }, { format: text }));
    if (evaluator) this.evaluatorBar = multibar.create(1, 0, { text: `  ${'evaluator'.padEnd(10)} starting` }, { format: text });
  }

  note(text: string): void {
    // Each line printed where a bar was: erased first (the multibar erases only the first).
    const line = this.out.isTTY ? `${ERASE_LINE}${text}\n` : `${text}\n`;
    if (this.multibar) this.multibar.log(line);
    else this.out.write(line);
  }

  event(e: Exclude<ClusterEvent, { type: 'error' }>): void {
    switch (e.type) {
      case 'epoch.started':
        this.epochNumber = e.epoch;
        this.epochBar?.start(1, 0, { waiting: `epoch ${e.epoch}/${this.epochs} starting` });
        break;
      case 'progress':
        this.showProgress(e.epoch);
        break;
      case 'worker':
        this.workerBars.get(e.worker.process)?.update(0, { text: workerText(e.worker, e.worker.process) });
        break;
      case 'evaluator':
        this.evaluatorBar?.update(0, { text: `  ${'evaluator'.padEnd(10)} ${e.status}` });
        break;
      case 'epoch.done':
        for (const line of trainedLines(e.trained, this.epochs)) this.note(line);
        break;
      case 'epoch.scored':
        for (const line of scoreLines(e.score, this.epochs)) this.note(line);
        break;
    }
  }

  error(line: ChildLine): void {
    this.note(readableLine(line));
  }

  raw(text: string): void {
    this.note(text);
  }

  finish(summary: RunSummary, logFiles: readonly string[]): void {
    if (this.multibar) {
      this.multibar.update(); // prints the notes still buffered
      this.multibar.stop();
      this.multibar = null;
    }
    for (const line of summaryLines(summary, logFiles)) this.out.write(`${line}\n`);
  }

  private showProgress(e: EpochView): void {
    if (!this.epochBar || e.images === null) return;
    const seconds = e.roundMs / 1000;
    const payload = {
      epoch: e.epoch,
      epochs: this.epochs,
      loss: fixed(e.loss, 4),
      acc: e.accuracy === null ? '-' : `${(e.accuracy * 100).toFixed(1)}%`,
      lr: e.lr === null ? '-' : e.lr.toPrecision(3),
      speed: seconds > 0 ? Math.round(e.imagesDone / seconds) : '-',
    };
    if (this.epochBar.getTotal() !== e.images || this.epochNumber !== e.epoch) {
      this.epochNumber = e.epoch;
      this.epochBar.start(e.images, e.imagesDone, payload);
    } else this.epochBar.update(e.imagesDone, payload);
  }
}

/** Without a terminal: one structured line per event through the launcher's logger. */
class LogScreen implements Screen {
  constructor(
    private readonly log: Logger,
    private readonly epochs: number,
  ) {}

  start(): void {}

  event(e: Exclude<ClusterEvent, { type: 'error' }>): void {
    switch (e.type) {
      case 'epoch.started':
        this.log.info({ event: 'epoch.started', epoch: e.epoch, epochs: this.epochs }, 'epoch started');
        break;
      case 'epoch.done': {
        const { workers, ...trained } = e.trained;
        for (const w of workers) this.log.info({ event: 'worker.epoch', ...w }, 'worker epoch summary');
        this.log.info({ event: 'epoch.done', ...trained, epochs: this.epochs }, 'epoch done');
        break;
      }
      case 'epoch.scored':
        this.log.info({ event: 'epoch.scored', ...e.score, epochs: this.epochs }, 'epoch scored');
        break;
      default:
        break;
    }
  }

  error(line: ChildLine): void {
    this.log.error({ process: line.process, line: line.record ?? line.text }, readableLine(line));
  }

  raw(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  finish(summary: RunSummary): void {
    if (summary.status === 'finished') this.log.info({ event: 'run.finished', ...summary }, 'run finished');
    else if (summary.status === 'interrupted') this.log.warn({ event: 'run.finished', ...summary }, 'run stopped');
    else this.log.error({ event: 'run.finished', ...summary }, 'run failed');
  }
}

/** --progress off: errors on stderr, the summary as the launcher's log line. */
class OffScreen implements Screen {
  start(): void {}
  event(): void {}

  error(line: ChildLine): void {
    process.stderr.write(`${readableLine(line)}\n`);
  }

  raw(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  finish(summary: RunSummary, logFiles: readonly string[]): void {
    for (const line of summaryLines(summary, logFiles)) process.stdout.write(`${line}\n`);
  }
}

/** Four decimals; a diverging run's huge values in exponent form. */
function fixed(v: number | null, digits: number): string {
  if (v === null) return '-';
  return Math.abs(v) >= 1e5 ? v.toExponential(2) : v.toFixed(digits);
}

function workerText(w: WorkerView | null, name: string): string {
  if (!w) return `  ${name.padEnd(10)} starting`;
  const speed = w.imagesPerSecond === null ? '-' : String(Math.round(w.imagesPerSecond));
  const round = w.status === 'training' && w.round !== null ? ` (round ${w.round})` : '';
  return `  ${name.padEnd(10)} ${speed.padStart(6)} img/s  loss ${fixed(w.lastLoss, 4)}  ${w.status}${round}`;
}

function trainedLines(t: EpochTrained, epochs: number): string[] {
  const speed = t.imagesPerSecond === null ? '' : ` (${Math.round(t.imagesPerSecond)} img/s)`;
  const acc = t.trainAccuracy === null ? '-' : `${(t.trainAccuracy * 100).toFixed(2)}%`;
  return [
    `epoch ${t.epoch}/${epochs} trained: ${t.images} images in ${t.seconds.toFixed(1)} s${speed}, loss ${fixed(t.trainLoss, 4)}, accuracy ${acc}, lr ${t.lr === null ? '-' : t.lr.toPrecision(3)}`,
    ...t.workers.map(
      (w) =>
        `  ${w.process.padEnd(10)} ${String(w.images).padStart(6)} images  loss ${fixed(w.loss, 4)}  ${w.imagesPerSecond === null ? '-' : Math.round(w.imagesPerSecond)} img/s`,
    ),
  ];
}

function scoreLines(s: EpochScore, epochs: number): string[] {
  const loss = s.loss !== null ? `loss ${s.loss.toFixed(4)}` : `train loss ${fixed(s.trainLoss, 4)}`;
  return [
    `epoch ${s.epoch}/${epochs} test accuracy ${s.accuracyPercent}, ${loss}`,
    `  weakest: ${s.weakest}`,
    `  most confused: ${s.mostConfused}`,
  ];
}
