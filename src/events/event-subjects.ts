import { FleetError } from '../runtime/errors.js';
import { eventPayloadSchemas, type EventType } from './event-payloads.js';

/**
 * Subjects: `fleet.<run>.<type>`, one per event type (a type may hold a dot:
 * fleet.r1.worker.joined), so a consumer filters by run and type on the server.
 */
export const STREAM_NAME = 'FLEET_EVENTS';
export const ALL_SUBJECTS = 'fleet.>';
/** The stream stores a msgId once within this window: a retried publish, an eval re-done after a crash. */
export const DUPLICATE_WINDOW_MS = 3600 * 1000;
const PREFIX = 'fleet.';
/** Also a subject token: no dots, wildcards or spaces can slip into a subject. */
const RUN_ID = /^[A-Za-z0-9_-]{1,100}$/;

export class InvalidRunIdError extends FleetError {
  constructor(readonly run: string) {
    super(`invalid run id ${JSON.stringify(run)}: expected 1 to 100 characters of A-Z a-z 0-9 _ -`);
  }
}

export function isRunId(run: string): boolean {
  return RUN_ID.test(run);
}

/** Returns `run` when it is a valid run id, else throws InvalidRunIdError. */
export function assertRunId(run: string): string {
  if (!isRunId(run)) throw new InvalidRunIdError(run);
  return run;
}

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(eventPayloadSchemas, type);
}

export function subjectOf(run: string, type: EventType): string {
  return `${PREFIX}${assertRunId(run)}.${type}`;
}

/** Every event of one run. */
export function runSubjects(run: string): string {
  return `${PREFIX}${assertRunId(run)}.>`;
}

/** How often a service beats on its liveness subject; a listener's timeout must allow a few missed beats. */
export const LIVENESS_BEAT_INTERVAL_MS = 1000;

/**
 * A service's liveness beats: core NATS, never stored. Outside `fleet.>` on
 * purpose: the FLEET_EVENTS stream would store anything under it, and every
 * follower of the run would read a beat as a malformed event.
 */
export function livenessSubject(run: string, service: 'evaluator'): string {
  return `fleet-alive.${assertRunId(run)}.${service}`;
}

/** `{ run, type }` of a fleet event subject, or null when it is not one (unknown type, bad run id, other prefix). */
export function typeOfSubject(subject: string): { run: string; type: EventType } | null {
  if (!subject.startsWith(PREFIX)) return null;
  const rest = subject.slice(PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot < 0) return null;
  const run = rest.slice(0, dot);
  const type = rest.slice(dot + 1);
  return isRunId(run) && isEventType(type) ? { run, type } : null;
}
