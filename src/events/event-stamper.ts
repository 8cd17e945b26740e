import { FleetError } from '../runtime/errors.js';
import { encodeEvent, validatePayload } from './event-codec.js';
import { envelopeSchema, type EventPayloads, type EventType, type FleetEvent } from './event-payloads.js';
import { assertRunId, subjectOf } from './event-subjects.js';

/** An event ready to send: validated, numbered, encoded, with its subject and de-duplication id. */
export interface StampedEvent {
  event: FleetEvent;
  subject: string;
  msgId: string;
  bytes: Uint8Array;
}

export class InvalidSourceError extends FleetError {
  constructor(readonly source: string) {
    super(`invalid event source ${JSON.stringify(source)}: expected 1 to 200 characters, e.g. coordinator:3f9a`);
  }
}

/**
 * What both buses do on publish, in the caller's stack: check run and source
 * once, then per event validate the payload, take the next seq (1, 2, 3...)
 * and encode. A rejected payload does not use up a seq.
 */
export function createEventStamper(
  run: string,
  source: string,
): <T extends EventType>(type: T, data: EventPayloads[T], msgId?: string) => StampedEvent {
  assertRunId(run);
  if (!envelopeSchema.shape.source.safeParse(source).success) throw new InvalidSourceError(source);
  let seq = 0;
  return (type, data, msgId) => {
    const subject = subjectOf(run, type);
    const payload = validatePayload(type, data, subject);
    seq += 1;
    const event: FleetEvent = { type, run, source, seq, time: new Date().toISOString(), data: payload };
    return { event, subject, msgId: msgId ?? `${run}:${source}:${seq}`, bytes: encodeEvent(event) };
  };
}
