import { writeSweepRecord, type SweepRecord, type TrialRecord } from '../../src/training/run-record/sweep-record.js';

/**
 * The sweep's record in memory and in SWEEP_DIR/sweep.json: every change
 * goes through `change`, which schedules a save; saves are written one at a
 * time (atomically, writeSweepRecord), always of the latest state, so the
 * file follows the sweep closely and never tears. `flush` waits for the
 * last one.
 */
export class SweepState {
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;
  private failure: unknown = null;

  constructor(
    readonly dir: string,
    private readonly current: SweepRecord,
  ) {}

  get record(): Readonly<SweepRecord> {
    return this.current;
  }

  trial(id: string): Readonly<TrialRecord> {
    const t = this.current.trials.find((x) => x.id === id);
    if (!t) throw new Error(`no trial ${id} in the sweep`);
    return t;
  }

  /** Applies `fn` to the trial and saves. */
  changeTrial(id: string, fn: (t: TrialRecord) => void): void {
    fn(this.trial(id) as TrialRecord);
    this.save();
  }

  /** Applies `fn` to the record and saves. */
  change(fn: (r: SweepRecord) => void): void {
    fn(this.current);
    this.save();
  }

  /** Resolves once everything changed so far is on disk; a failed write is thrown here. */
  async flush(): Promise<void> {
    await this.saving;
    if (this.dirty) {
      this.save();
      await this.saving;
    }
    if (this.failure !== null) throw this.failure;
  }

  private save(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.saving = this.saving.then(async () => {
      this.dirty = false;
      try {
        await writeSweepRecord(this.dir, structuredClone(this.current));
      } catch (err) {
        this.failure ??= err;
      }
    });
  }
}
