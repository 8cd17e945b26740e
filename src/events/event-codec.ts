import type { z } from 'zod';
import { FleetError } from '../runtime/errors.js';
import { envelopeSchema, eventPayloadSchemas, type EventPayloads, type EventType, type FleetEvent } from './event-payloads.js';
import { isEventType, typeOfSubject } from './event-subjects.js';

/**
 * The events as a discriminated union: `switch (e.type)` narrows `e.data`.
 * Each member is a FleetEvent, so a handler typed `(e: FleetEvent) => ...` accepts it too.
 */
export type AnyFleetEvent = { [T in EventType]: FleetEvent<T> }[EventType];

/** An event that does not match the contract: bad JSON, envelope, payload, or a subject that disagrees with it. */
export class MalformedEventError extends FleetError {
  constructor(
    /** Where it was read or would be published; null when validated without one. */
    readonly subject: string | null,
    /** The first faulty field (`data.accuracy`, `seq`), or null for the message as a whole. */
    readonly field: string | null,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`malformed event on ${subject ?? '(no subject)'}: ${field === null ? reason : `${field}: ${reason}`}`, options);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEvent(event: FleetEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

function firstIssue(subject: string | null, error: z.ZodError, prefix: string[], cause: unknown): MalformedEventError {
  const issue = error.issues[0];
  const path = [...prefix, ...(issue?.path ?? []).map(String)];
  return new MalformedEventError(subject, path.length > 0 ? path.join('.') : null, issue?.message ?? 'invalid', { cause });
}

/**
 * Checks `data` against the schema of `type` and returns it parsed (unknown
 * fields stripped). Used on publish, so a bad payload fails in the caller, not
 * in every consumer.
 */
export function validatePayload<T extends EventType>(type: T, data: unknown, subject: string | null = null): EventPayloads[T] {
  if (!isEventType(type)) throw new MalformedEventError(subject, 'type', `unknown event type ${JSON.stringify(type)}`);
  const parsed = eventPayloadSchemas[type].safeParse(data);
  if (!parsed.success) throw firstIssue(subject, parsed.error, ['data'], parsed.error);
  return parsed.data as EventPayloads[T];
}

/**
 * Reads one message: JSON, the envelope, the payload of its type, and that the
 * envelope's run and type are the subject's (a message cannot pose as another
 * run's). Unknown payload fields are stripped, so older readers accept newer
 * publishers. Every fault is a MalformedEventError naming subject and field.
 */
export function decodeEvent(subject: string, bytes: Uint8Array): AnyFleetEvent {
  const where = typeOfSubject(subject);
  if (where === null) throw new MalformedEventError(subject, null, 'the subject is not fleet.<run>.<known event type>');
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new MalformedEventError(subject, null, `not UTF-8 JSON (${(err as Error).message})`, { cause: err });
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) throw firstIssue(subject, envelope.error, [], envelope.error);
  const { type, run } = envelope.data;
  if (type !== where.type)
    throw new MalformedEventError(
      subject,
      'type',
      `${JSON.stringify(type)} does not match the subject's type ${JSON.stringify(where.type)}`,
    );
  if (run !== where.run)
    throw new MalformedEventError(subject, 'run', `${JSON.stringify(run)} does not match the subject's run ${JSON.stringify(where.run)}`);
  const data = validatePayload(type, envelope.data.data, subject);
  return { ...envelope.data, data } as AnyFleetEvent;
}
