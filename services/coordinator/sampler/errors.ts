import { FleetError } from '../../../src/runtime/errors.js';

/** A bad value as the user would write it: NaN stays NaN (JSON would say null), long values are cut. */
function show(value: unknown): string {
  const text = typeof value === 'number' || value === undefined ? String(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** An option of the sampler outside its range (a config or state bug, caught at construction). */
export class SamplerOptionError extends FleetError {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`sampler option ${option} = ${show(value)}: expected ${expected}`);
  }
}

/** A round's member list that is empty, unsorted, has a duplicate or a blank id. */
export class MemberListError extends FleetError {
  constructor(
    readonly members: readonly string[],
    readonly reason: 'empty' | 'blank' | 'unsorted' | 'duplicate',
    /** Position of the offending id (the second of a pair for unsorted / duplicate); -1 when empty. */
    readonly position: number,
  ) {
    const at = position >= 0 ? ` at position ${position} (${JSON.stringify(members[position])})` : '';
    super(
      `member list ${JSON.stringify(members.slice(0, 8))}${members.length > 8 ? '...' : ''} is ${reason}${at}: expected distinct non-empty ids in ascending order`,
    );
  }
}

/** planRound while a planned round is neither committed nor aborted. */
export class RoundOutstandingError extends FleetError {
  constructor(readonly outstandingRound: number) {
    super(`round ${outstandingRound} is still outstanding: commit or abort it before planning another`);
  }
}

/** commit / abort of a round that is not the outstanding one (never planned, already closed, or stale). */
export class UnknownRoundError extends FleetError {
  constructor(
    readonly round: number,
    readonly outstandingRound: number | null,
  ) {
    super(`round ${round} is not outstanding (${outstandingRound === null ? 'no round is' : `round ${outstandingRound} is`})`);
  }
}

/** commit naming a contributor that was not a member of the round. */
export class UnknownMemberError extends FleetError {
  constructor(
    readonly worker: string,
    readonly round: number,
  ) {
    super(`worker ${JSON.stringify(worker)} was not a member of round ${round}`);
  }
}

/** planRound after every index of the epoch was applied: call nextEpoch() first. */
export class EpochCompleteError extends FleetError {
  constructor(readonly epoch: number) {
    super(`epoch ${epoch} is complete: call nextEpoch() before planning another round`);
  }
}

/** nextEpoch() while the current epoch still has unapplied or outstanding indices. */
export class EpochIncompleteError extends FleetError {
  constructor(
    readonly epoch: number,
    readonly applied: number,
    readonly count: number,
    readonly outstandingRound: number | null,
  ) {
    super(
      `epoch ${epoch} is not complete: ${applied} of ${count} indices applied` +
        (outstandingRound === null ? '' : `, round ${outstandingRound} outstanding`),
    );
  }
}

/** A serialised sampler state that is malformed or inconsistent (corrupt or foreign checkpoint). */
export class SamplerStateError extends FleetError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`sampler state ${field} = ${show(value)}: ${reason}`);
  }
}

/** An index applied other than exactly once in an epoch (AppliedLedger's debug check). */
export class AppliedCountError extends FleetError {
  constructor(
    readonly epoch: number,
    /** Indices never applied, and how many there are in all (the list is capped). */
    readonly missing: readonly number[],
    readonly missingCount: number,
    /** Indices applied more than once, and how many there are in all (the list is capped). */
    readonly repeated: readonly number[],
    readonly repeatedCount: number,
  ) {
    super(
      `epoch ${epoch}: ${missingCount} indices never applied${missing.length ? ` (first ${missing.join(', ')})` : ''}, ` +
        `${repeatedCount} applied more than once${repeated.length ? ` (first ${repeated.join(', ')})` : ''}`,
    );
  }
}

/** AppliedLedger.record of an index outside 0..count-1 or an epoch below 1. */
export class LedgerIndexError extends FleetError {
  constructor(
    readonly epoch: number,
    readonly index: number,
    readonly count: number,
  ) {
    super(`ledger: cannot record index ${index} in epoch ${epoch} (indices are 0..${count - 1}, epochs from 1)`);
  }
}
