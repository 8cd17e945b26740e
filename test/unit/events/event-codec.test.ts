import { describe, expect, it } from 'vitest';
import {
  EVENT_TYPES,
  InvalidRunIdError,
  MalformedEventError,
  decodeEvent,
  encodeEvent,
  runSubjects,
  subjectOf,
  typeOfSubject,
  validatePayload,
  type FleetEvent,
} from '../../../src/events/index.js';
import { samplePayloads } from '../../fixtures/event-samples.js';

const enc = new TextEncoder();

function envelope(type: FleetEvent['type'], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type,
    run: 'r1',
    source: 'coordinator:ab12',
    seq: 1,
    time: '2026-11-28T10:00:00.000Z',
    data: samplePayloads[type],
    ...overrides,
  };
}

function raw(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** The MalformedEventError thrown by `fn`, checked to name `subject` and `field`. */
function malformed(fn: () => unknown, subject: string | null, field: string | null): MalformedEventError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MalformedEventError);
  const err = caught as MalformedEventError;
  expect(err.subject).toBe(subject);
  expect(err.field).toBe(field);
  if (subject !== null) expect(err.message).toContain(`malformed event on ${subject}: `);
  if (field !== null) expect(err.message).toContain(`${field}: `);
  return err;
}

describe('event subjects', () => {
  it('map run and type to a subject and back, dots in types included', () => {
    expect(subjectOf('r1', 'worker.joined')).toBe('fleet.r1.worker.joined');
    expect(runSubjects('run_2-b')).toBe('fleet.run_2-b.>');
    for (const type of EVENT_TYPES) expect(typeOfSubject(subjectOf('r-9', type))).toEqual({ run: 'r-9', type });
    expect(typeOfSubject('fleet.r1.nope')).toBeNull();
    expect(typeOfSubject('other.r1.eval')).toBeNull();
    expect(typeOfSubject('fleet.r1')).toBeNull();
  });

  it('refuse run ids that are not one subject token, naming the id', () => {
    for (const bad of ['', 'a.b', 'a*', 'a>', 'has space', 'x'.repeat(101)]) {
      expect(() => subjectOf(bad, 'eval')).toThrow(InvalidRunIdError);
    }
    expect(() => runSubjects('a.b')).toThrow(/invalid run id "a\.b"/);
  });
});

describe('event codec', () => {
  it('round-trips every event type', () => {
    for (const type of EVENT_TYPES) {
      const event = envelope(type) as unknown as FleetEvent;
      const subject = subjectOf('r1', type);
      expect(decodeEvent(subject, encodeEvent(event))).toEqual(event);
    }
  });

  it('strips payload fields it does not know (a newer publisher)', () => {
    const event = envelope('best', { data: { ...samplePayloads.best, extra: 1 } });
    expect(decodeEvent('fleet.r1.best', raw(event)).data).toEqual(samplePayloads.best);
  });

  it('names the subject and the envelope field at fault', () => {
    malformed(() => decodeEvent('fleet.r1.eval', raw(envelope('eval', { seq: 0 }))), 'fleet.r1.eval', 'seq');
    malformed(() => decodeEvent('fleet.r1.eval', raw(envelope('eval', { time: 'yesterday' }))), 'fleet.r1.eval', 'time');
    const { source: _s, ...noSource } = envelope('eval');
    malformed(() => decodeEvent('fleet.r1.eval', raw(noSource)), 'fleet.r1.eval', 'source');
  });

  it("names the payload field at fault, with zod's reason", () => {
    const tooBig = envelope('eval', { data: { ...samplePayloads.eval, accuracy: 1.5 } });
    const err = malformed(() => decodeEvent('fleet.r1.eval', raw(tooBig)), 'fleet.r1.eval', 'data.accuracy');
    expect(err.message).toMatch(/^malformed event on fleet\.r1\.eval: data\.accuracy: Too big/);
    const nested = envelope('eval', { data: { ...samplePayloads.eval, confusion: [[1, -2]] } });
    malformed(() => decodeEvent('fleet.r1.eval', raw(nested)), 'fleet.r1.eval', 'data.confusion.0.1');
  });

  it('refuses an envelope whose run or type differs from its subject', () => {
    malformed(() => decodeEvent('fleet.r2.eval', raw(envelope('eval'))), 'fleet.r2.eval', 'run');
    malformed(() => decodeEvent('fleet.r1.best', raw(envelope('eval'))), 'fleet.r1.best', 'type');
    malformed(() => decodeEvent('fleet.r1.bogus', raw(envelope('eval'))), 'fleet.r1.bogus', null);
  });

  it('refuses bytes that are not JSON (or not UTF-8)', () => {
    const err = malformed(() => decodeEvent('fleet.r1.eval', enc.encode('{"type":')), 'fleet.r1.eval', null);
    expect(err.message).toContain('not UTF-8 JSON');
    malformed(() => decodeEvent('fleet.r1.eval', new Uint8Array([0xff, 0xfe])), 'fleet.r1.eval', null);
    malformed(() => decodeEvent('fleet.r1.eval', enc.encode('"just a string"')), 'fleet.r1.eval', null);
  });

  it('validatePayload checks a payload before publishing, with the same error', () => {
    expect(validatePayload('round', samplePayloads.round)).toEqual(samplePayloads.round);
    malformed(() => validatePayload('round', { ...samplePayloads.round, lr: -1 }, 'fleet.r1.round'), 'fleet.r1.round', 'data.lr');
    malformed(() => validatePayload('nope' as 'round', {}), null, 'type');
  });
});
