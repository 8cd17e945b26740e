import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSchedule, ScheduleError, scheduleEnd } from '../../../bench/soak/fault-schedule.js';

const parse = (faults: unknown[], workers = 3) => parseSchedule(JSON.stringify({ faults }), 'x.json', workers);

describe('soak fault schedule', () => {
  it('parses durations, fills defaults and sorts by time', () => {
    const s = parse([
      { at: '2m', kind: 'stop-worker', worker: 2, for: '30s' },
      { at: '90s', kind: 'kill-worker', worker: 0 },
      { at: '5m', kind: 'garbage-worker', gradient: 'scale:100', for: '1m' },
    ]);
    expect(s.faults.map((f) => [f.kind, f.at])).toEqual([
      ['kill-worker', 90_000],
      ['stop-worker', 120_000],
      ['garbage-worker', 300_000],
    ]);
    expect(s.faults[0]).toMatchObject({ restartAfter: 5000 });
    expect(scheduleEnd(s)).toBe(360_000);
  });

  it.each([
    ['not JSON', '{faults', /not JSON/],
    ['an unknown kind', JSON.stringify({ faults: [{ at: '1m', kind: 'unplug' }] }), /faults\[0\]/],
    ['a bad duration', JSON.stringify({ faults: [{ at: '1m', kind: 'disk-full', for: 'soon' }] }), /faults\[0\]\.for: not a duration/],
    ['an unknown field', JSON.stringify({ faults: [{ at: '1m', kind: 'restart-nats', down: '5s', port: 1 }] }), /port/],
    [
      'a bad gradient fault',
      JSON.stringify({ faults: [{ at: '1m', kind: 'garbage-worker', gradient: 'flip', for: '1m' }] }),
      /sign-flip, random, scale:F or noise:F/,
    ],
    [
      'a worker the soak does not run',
      JSON.stringify({ faults: [{ at: '1m', kind: 'kill-worker', worker: 3 }] }),
      /names worker 3, but the soak runs 3/,
    ],
  ])('refuses %s, naming the file and the place', (_name, text, message) => {
    expect(() => parseSchedule(text, 'x.json', 3)).toThrow(ScheduleError);
    expect(() => parseSchedule(text, 'x.json', 3)).toThrow(/^fault schedule x\.json: /);
    expect(() => parseSchedule(text, 'x.json', 3)).toThrow(message);
  });

  it('the committed hour-long schedule is valid and fits in an hour', () => {
    const s = parseSchedule(readFileSync('bench/soak/schedule.json', 'utf8'), 'bench/soak/schedule.json', 3);
    expect(new Set(s.faults.map((f) => f.kind)).size).toBe(7);
    expect(scheduleEnd(s)).toBeLessThanOrEqual(60 * 60_000);
  });
});
