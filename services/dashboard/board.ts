import { STANDARD_CLASS_NAMES } from '../../src/dataset/cifar10-constants.js';
import type { FleetEvent } from '../../src/events/event-payloads.js';
import type { BoardList, ChangeNotice, RunDetail, SweepDetail } from './api-types.js';
import {
  classNamesOf,
  type DirectoryRun,
  type DirectorySweep,
  folderSignature,
  runDetailFromDirectory,
  scanRuns,
  scanSweeps,
  sweepDetailFromDirectory,
} from './directory-board.js';
import { RunBoard } from './run-board.js';
import { SweepBoard } from './sweep-board.js';

/**
 * Everything the dashboard knows: runs and sweeps folded from their events,
 * and those read from a folder of run directories. A run known both ways is
 * shown from its events (they have its workers and rounds); a run whose
 * events the stream no longer holds still shows from its directory.
 */
export class Board {
  private readonly runBoards = new Map<string, RunBoard>();
  private readonly sweepBoards = new Map<string, SweepBoard>();
  private dirRuns = new Map<string, DirectoryRun>();
  private dirSweeps = new Map<string, DirectorySweep>();
  private signature = new Map<string, string>();
  private readonly classNames = new Map<string, string[]>();
  private readonly listeners = new Set<(change: ChangeNotice) => void>();

  constructor(
    private readonly sources: BoardList['sources'],
    private readonly now: () => number = Date.now,
  ) {}

  /** An event from the bus (already validated). A key's first event decides whether it is a run or a sweep. */
  apply(event: FleetEvent): void {
    const isSweep = this.sweepBoards.has(event.run) || (!this.runBoards.has(event.run) && isSweepEvent(event.type));
    if (isSweep) {
      let b = this.sweepBoards.get(event.run);
      if (b === undefined) {
        b = new SweepBoard(event.run);
        this.sweepBoards.set(event.run, b);
      }
      b.apply(event);
      this.emit({ runs: [], sweeps: [event.run] });
      return;
    }
    let b = this.runBoards.get(event.run);
    if (b === undefined) {
      b = new RunBoard(event.run);
      this.runBoards.set(event.run, b);
    }
    b.apply(event);
    this.emit({ runs: [event.run], sweeps: [] });
  }

  /** Reads the runs folder again; tells the listeners which runs and sweeps changed on disk. */
  async rescan(): Promise<void> {
    if (this.sources.runs === null) return;
    const [runs, sweeps] = await Promise.all([scanRuns(this.sources.runs), scanSweeps(this.sources.runs)]);
    const signature = await folderSignature(runs, sweeps);
    const changed: ChangeNotice = { runs: [], sweeps: [] };
    for (const key of new Set([...signature.keys(), ...this.signature.keys()])) {
      if (signature.get(key) === this.signature.get(key)) continue;
      if (key.startsWith('run:')) changed.runs.push(key.slice(4));
      else changed.sweeps.push(key.slice(6));
    }
    this.dirRuns = runs;
    this.dirSweeps = sweeps;
    this.signature = signature;
    if (changed.runs.length > 0 || changed.sweeps.length > 0) this.emit(changed);
  }

  list(): BoardList {
    const nowMs = this.now();
    const runs = new Map<string, BoardList['runs'][number]>();
    for (const [id, r] of this.dirRuns) runs.set(id, r.summary);
    for (const [id, b] of this.runBoards) {
      const s = b.summary(nowMs);
      runs.set(id, { ...s, started: s.started ?? runs.get(id)?.started ?? null });
    }
    const sweeps = new Map<string, BoardList['sweeps'][number]>();
    for (const [id, s] of this.dirSweeps) sweeps.set(id, s.summary);
    for (const [id, b] of this.sweepBoards) sweeps.set(id, b.summary());
    const newestFirst = <T extends { started: string | null; id: string }>(a: T, b: T): number =>
      (b.started ?? '').localeCompare(a.started ?? '') || a.id.localeCompare(b.id);
    return { sources: this.sources, runs: [...runs.values()].sort(newestFirst), sweeps: [...sweeps.values()].sort(newestFirst) };
  }

  /** A run's page, or null when the run is unknown. */
  async run(id: string): Promise<RunDetail | null> {
    const events = this.runBoards.get(id);
    const dir = this.dirRuns.get(id);
    if (events !== undefined) {
      const detail = events.detail(this.now(), await this.classNamesFor(id, dir));
      return { ...detail, dir: dir?.dir ?? null };
    }
    if (dir !== undefined) return runDetailFromDirectory(dir);
    return null;
  }

  async sweep(id: string): Promise<SweepDetail | null> {
    const events = this.sweepBoards.get(id);
    if (events !== undefined) return events.detail();
    const dir = this.dirSweeps.get(id);
    return dir === undefined ? null : sweepDetailFromDirectory(dir);
  }

  onChange(listener: (change: ChangeNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: ChangeNotice): void {
    for (const l of this.listeners) l(change);
  }

  /** Events carry no class names: the run's config.json has them when its directory is in the folder. */
  private async classNamesFor(id: string, dir: DirectoryRun | undefined): Promise<string[]> {
    const known = this.classNames.get(id);
    if (known !== undefined) return known;
    const names = dir === undefined ? null : await classNamesOf(dir.dir);
    if (names !== null) this.classNames.set(id, names);
    return names ?? [...STANDARD_CLASS_NAMES];
  }
}

function isSweepEvent(type: string): boolean {
  return type.startsWith('sweep.') || type.startsWith('trial.');
}
