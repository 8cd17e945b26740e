import type { FleetEvent } from '../../src/events/event-payloads.js';
import type { WatchSnapshot, WorkerSnapshot } from './watch-state.js';

/**
 * Text for `fleet watch`: a frame from a snapshot (pure, no terminal calls,
 * so it is tested as a string) for a terminal; one logfmt line per event
 * without a terminal; one JSON line per event for --json.
 */

export interface RenderOptions {
  /** Columns: every line is cut to fit, so a redraw can count its lines. */
  width: number;
  /** ANSI colours; the text is the same without them. */
  color: boolean;
}

type Style = 'bold' | 'dim' | 'green' | 'yellow' | 'red' | 'cyan';
/** A piece of a line and its style: lines are cut by visible length before colouring. */
type Segment = readonly [text: string, style?: Style];

const ANSI: Record<Style, string> = { bold: '1', dim: '2', green: '32', yellow: '33', red: '31', cyan: '36' };

/** The run, or a worker, is called quiet after this long without news (and several rounds' time). */
const QUIET_MIN_MS = 10_000;
const QUIET_ROUNDS = 5;

function quietAfterMs(s: WatchSnapshot): number {
  return Math.max(QUIET_MIN_MS, QUIET_ROUNDS * (s.roundMsMean ?? 0));
}

/** No event at all for a while: a round is stuck (a worker gone silent, or the coordinator). */
function runQuiet(s: WatchSnapshot): boolean {
  return s.finished === null && s.sinceEventMs !== null && s.sinceEventMs > quietAfterMs(s);
}

export function renderView(s: WatchSnapshot, options: RenderOptions): string {
  const width = Math.max(20, Math.floor(options.width));
  const lines: Segment[][] = [header(s)];
  // Its own line: the header is the first thing a narrow terminal cuts.
  if (runQuiet(s)) lines.push([[`no events for ${formatDuration(s.sinceEventMs ?? 0)}`, 'yellow']]);
  lines.push(details(s));

  const labels = s.members.map(workerLabel);
  const labelWidth = Math.min(24, Math.max(0, ...labels.map((l) => l.length)));
  // The bar takes what the label and the numbers after it leave, within reason.
  const barWidth = clamp(width - labelWidth - 58, 10, 40);
  if (s.members.length === 0) lines.push([['  no workers yet', 'dim']]);
  for (const [i, m] of s.members.entries()) lines.push(workerLine(s, m, (labels[i] ?? m.worker).padEnd(labelWidth), barWidth));

  lines.push(accuracyLine(s));
  if (s.straggler !== null) {
    lines.push([
      ['straggler: ', 'yellow'],
      [`${s.straggler.worker} (+${Math.round(s.straggler.meanStraggleMs)} ms/round)`, 'yellow'],
      [`  last in ${s.straggler.rounds}/${s.straggler.windowRounds} rounds`, 'dim'],
    ]);
  }
  if (s.writeFailed !== null) {
    const w = s.writeFailed;
    const service = w.source.split(':')[0] ?? w.source;
    lines.push([
      [`disk: ${w.count} write${w.count === 1 ? '' : 's'} refused`, 'red'],
      [`  last: the ${service}'s ${w.what} ${w.path} (${w.code}, ${w.consecutive} in a row)`, 'dim'],
    ]);
  }
  if (s.finished !== null) {
    lines.push(
      s.finished.status === 'finished'
        ? [['finished', 'green']]
        : s.finished.status === 'stopped'
          ? [[`stopped (${s.finished.reason ?? 'a signal'}): a restarted coordinator resumes it`, 'yellow']]
          : [[`failed: ${s.finished.reason ?? 'no reason given'}`, 'red']],
    );
  }
  return lines.map((l) => renderLine(l, width, options.color)).join('\n');
}

/** One event as one JSON line (with its newline), envelope fields first in a fixed order. */
export function renderJsonLine(event: FleetEvent): string {
  const { type, run, source, seq, time, data } = event;
  return `${JSON.stringify({ type, run, source, seq, time, data })}\n`;
}

/**
 * One event as one logfmt line (with its newline), for logs and pipes: a log
 * collector splits it into fields, a person reads it, nothing is cut.
 * `time run type`, the payload's scalar fields in the contract's order
 * (arrays, e.g. an eval's confusion matrix, only in --json), then what the
 * view adds: on a round the run's ETA and the straggler its rule names;
 * `source` last.
 */
export function renderEventLine(event: FleetEvent, view: WatchSnapshot): string {
  const fields: [string, unknown][] = [
    ['time', event.time],
    ['run', event.run],
    ['type', event.type],
    ...Object.entries(event.data as Record<string, unknown>),
  ];
  if (event.type === 'round') {
    if (view.etaMs !== null) fields.push(['eta', formatDuration(view.etaMs)]);
    if (view.straggler !== null) fields.push(['namedStraggler', view.straggler.worker]);
  }
  fields.push(['source', event.source]);
  const pairs = fields.flatMap(([key, value]) => {
    const text = logfmtValue(value);
    return text === null ? [] : [`${key}=${text}`];
  });
  return `${pairs.join(' ')}\n`;
}

/** A scalar as logfmt writes it: bare when it can be, else a quoted JSON string; null for what a line leaves out. */
export function logfmtValue(value: unknown): string | null {
  if (value === null || value === undefined || typeof value === 'object') return null;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  return /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text);
}

function header(s: WatchSnapshot): Segment[] {
  const c = s.config;
  const parts: Segment[] = [[`run ${s.run ?? '?'}`, 'bold']];
  if (c === null && s.round === null) return [...parts, ['  waiting for run.started', 'dim']];
  parts.push([`  ${c?.model ?? '?'}`, 'cyan']);
  parts.push([`  workers ${s.activeMembers}/${c?.workers ?? '?'}`]);
  parts.push([`  epoch ${s.epoch ?? '-'}/${c?.epochs ?? '?'}`]);
  parts.push([`  step ${s.globalStep ?? 0}/${s.totalSteps ?? '?'}`]);
  parts.push([`  ETA ${s.etaMs === null ? '-' : formatDuration(s.etaMs)}`]);
  parts.push([`  ${s.imagesPerSecond === null ? '-' : Math.round(s.imagesPerSecond)} img/s`]);
  parts.push([`  round ${s.roundMs === null ? '-' : Math.round(s.roundMs)} ms`]);
  if (s.roundMsMean !== null) parts.push([` (mean ${Math.round(s.roundMsMean)})`, 'dim']);
  return parts;
}

function details(s: WatchSnapshot): Segment[] {
  const parts: Segment[] = [
    [`  lr ${s.lr === null ? '-' : formatNumber(s.lr)}`],
    [`  exchanged ${formatBytes(s.bytesIn)} in / ${formatBytes(s.bytesOut)} out`],
  ];
  const e = s.lastEpoch;
  if (e !== null) {
    parts.push([
      `  epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, accuracy ${percent(e.trainAccuracy)} in ${formatDuration(e.epochMs)}`,
      'dim',
    ]);
  }
  return parts;
}

function workerLine(s: WatchSnapshot, m: WorkerSnapshot, label: string, barWidth: number): Segment[] {
  const head: Segment = [`  ${label}  `];
  if (m.status === 'left') return [head, [`left: ${m.leftReason ?? ''}`, 'dim']];
  // Data-parallel workers move through the epoch together: the bar is the run's.
  const fraction = s.epochProgress?.fraction ?? 0;
  const parts: Segment[] = [
    head,
    [progressBar(fraction, barWidth), 'green'],
    [` ${String(Math.floor(fraction * 100)).padStart(3)}%`],
    [`  ${m.imagesPerSecondEma === null ? '-' : Math.round(m.imagesPerSecondEma)} img/s`],
    [`  loss ${m.lossEma === null ? '-' : m.lossEma.toFixed(4)}`],
    [`  round ${m.round ?? '-'}`],
  ];
  if (m.straggledRounds > 0) parts.push([`  last in ${m.straggledRounds}/${s.windowRounds}`, 'dim']);
  // Only while the run moves on without it; a stalled run is flagged once, in the header.
  if (s.finished === null && !runQuiet(s) && m.sinceSeenMs !== null && m.sinceSeenMs > quietAfterMs(s)) {
    parts.push([`  quiet ${formatDuration(m.sinceSeenMs)}`, 'yellow']);
  }
  return parts;
}

function accuracyLine(s: WatchSnapshot): Segment[] {
  const parts: Segment[] = [['test accuracy: ']];
  const l = s.latestEval;
  parts.push(l === null ? ['-', 'dim'] : [`${percent(l.accuracy)} (v${l.version}, epoch ${l.epoch})`]);
  const b = s.best;
  if (b !== null) parts.push(['  best '], [percent(b.accuracy), 'bold'], [` (v${b.version}, epoch ${b.epoch})`]);
  return parts;
}

/** `[#########.......]` with floor(fraction x width) filled cells. */
export function progressBar(fraction: number, width: number): string {
  const filled = clamp(Math.floor(fraction * width), 0, width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** 45s, 12m05s, 1h02m: the precision a human reading an ETA wants. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.round(ms / 1000));
  if (totalSeconds < 60) return `${totalSeconds}s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  if (totalMinutes < 60) return `${totalMinutes}m${pad2(totalSeconds % 60)}s`;
  return `${Math.floor(totalMinutes / 60)}h${pad2(totalMinutes % 60)}m`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function workerLabel(m: WorkerSnapshot): string {
  return m.name !== '' && m.name !== m.worker ? `${m.worker} (${m.name})` : m.worker;
}

function renderLine(segments: readonly Segment[], width: number, color: boolean): string {
  let room = width;
  let out = '';
  for (const [text, style] of segments) {
    if (room <= 0) break;
    const piece = text.length > room ? text.slice(0, room) : text;
    room -= piece.length;
    out += color && style !== undefined ? `\x1b[${ANSI[style]}m${piece}\x1b[0m` : piece;
  }
  return out;
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`;
}

function formatNumber(v: number): string {
  return String(Number(v.toPrecision(4)));
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
