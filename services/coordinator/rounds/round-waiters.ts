import type { Assignment } from './round-types.js';

interface Waiter {
  worker: string;
  fromRound: number;
  resolve: (a: Assignment | null) => void;
  reject: (e: Error) => void;
}

/** What a waiter gets: its assignment, null (the run is over), an error, or undefined to keep waiting. */
export type WaiterAnswer = Assignment | null | Error | undefined;

/** Workers long-polling for their next assignment (NextRound). */
export class RoundWaiters {
  private waiters: Waiter[] = [];

  get size(): number {
    return this.waiters.length;
  }

  wait(worker: string, fromRound: number): Promise<Assignment | null> {
    return new Promise((resolve, reject) => this.waiters.push({ worker, fromRound, resolve, reject }));
  }

  /** Answers every waiter `answer` has something for; the others keep waiting. */
  wake(answer: (worker: string, fromRound: number) => WaiterAnswer): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      const a = answer(w.worker, w.fromRound);
      if (a === undefined) still.push(w);
      else if (a instanceof Error) w.reject(a);
      else w.resolve(a);
    }
    this.waiters = still;
  }

  rejectAll(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
