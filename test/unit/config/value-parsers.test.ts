import { describe, expect, it } from 'vitest';
import { formatDuration, parseBoolean, parseDuration, ValueSyntaxError } from '../../../src/runtime/config/value-parsers.js';
import { durationParser } from '../../../cli/parse-flag.js';

describe('parseBoolean', () => {
  it('reads 1/0, true/false, yes/no, on/off in any case and with spaces around', () => {
    for (const t of ['1', 'true', 'TRUE', 'yes', 'Yes', 'on', ' On ']) expect(parseBoolean(t), t).toBe(true);
    for (const t of ['0', 'false', 'False', 'no', 'NO', 'off', 'off\n']) expect(parseBoolean(t), t).toBe(false);
  });

  it('refuses anything else, saying what it expected', () => {
    for (const t of ['', 'maybe', '2', 'y', 'enabled']) {
      expect(() => parseBoolean(t), t).toThrow(ValueSyntaxError);
      expect(() => parseBoolean(t), t).toThrow(/1\/0, true\/false, yes\/no, on\/off/);
    }
  });
});

describe('parseDuration', () => {
  it("reads ms, s, m and h, and a plain number in the flag's unit", () => {
    expect(parseDuration('500ms', 's')).toBe(500);
    expect(parseDuration('30s', 'ms')).toBe(30_000);
    expect(parseDuration('2m', 's')).toBe(120_000);
    expect(parseDuration('1h', 's')).toBe(3_600_000);
    expect(parseDuration('1.5s', 's')).toBe(1500);
    expect(parseDuration('30', 's')).toBe(30_000);
    expect(parseDuration('30', 'ms')).toBe(30);
    expect(parseDuration(' 2M ', 's')).toBe(120_000);
    expect(parseDuration('0', 's')).toBe(0);
  });

  it('refuses negative numbers, unknown units and text, naming the plain unit', () => {
    for (const t of ['-5', '5x', '5 days', 's', '', '1e3', 'fast']) {
      expect(() => parseDuration(t, 's'), t).toThrow(ValueSyntaxError);
    }
    expect(() => parseDuration('soon', 'ms')).toThrow(/a plain number is in ms/);
  });

  it('formats milliseconds as the shortest text that reads back the same', () => {
    for (const ms of [0, 1, 500, 1000, 1500, 60_000, 90_000, 3_600_000, 5_400_000]) expect(parseDuration(formatDuration(ms), 's')).toBe(ms);
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(3000)).toBe('3s');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});

describe("durationParser (a flag's parser)", () => {
  it('gives milliseconds; refuses 0 unless the flag allows it', () => {
    expect(durationParser('s')('45')).toBe(45_000);
    expect(() => durationParser('s')('0')).toThrow(/greater than 0/);
    expect(durationParser('s', true)('0')).toBe(0);
    expect(() => durationParser('s')('-1')).toThrow(/not a duration/);
  });
});
