import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FleetEvent } from '../../../src/events/event-payloads.js';
import type { FollowFn } from '../../../services/watch/follow-until-outcome.js';
import { runWatch } from '../../../services/watch/run-watch.js';
import { afterFakeTime, settle } from '../../helpers/wait.js';
import { RunScript } from './watch-events.js';

/** The escape that starts every ANSI sequence the watch writes. */
const ESC = String.fromCharCode(27);

// The watch's redraw interval, the async replay's pacing and "now" all run on fake time.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

/** A bus stand-in that replays `events` (at once, or one per millisecond), counting stops. */
function replay(events: readonly FleetEvent[], delivery: 'sync' | 'async' = 'sync') {
  const state = { stops: 0, from: [] as string[] };
  const follow: FollowFn = async (run, handler, options) => {
    state.from.push(options.from);
    const mine = events.filter((e) => e.run === run);
    if (delivery === 'sync') for (const e of mine) handler(e);
    else {
      void (async () => {
        for (const e of mine) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          if (state.stops > 0) return;
          handler(e);
        }
      })();
    }
    return { stop: async () => void state.stops++ };
  };
  return { follow, state };
}

/** A bus stand-in that hands the test the handler, to deliver events when it likes. */
function manual() {
  let deliver: ((e: FleetEvent) => void) | undefined;
  const follow: FollowFn = async (_run, handler) => {
    deliver = handler;
    return { stop: async () => {} };
  };
  return { follow, deliver: (e: FleetEvent) => deliver!(e) };
}

function fullRun(): RunScript {
  return new RunScript()
    .start()
    .join('w0', 'host-a')
    .join('w1', 'host-b')
    .rounds(10, { roundMs: 200 })
    .evaluate(0.42, true)
    .rounds(10, { roundMs: 200 })
    .evaluate(0.55, true);
}

describe('runWatch --json', () => {
  it('writes each event as a JSON line that parses back to it, until run.finished', async () => {
    const script = fullRun().finish();
    const events = [...script.events];
    // Delivered after the end: not written.
    const late = script.evaluate(0.56, false).events.slice(events.length);
    const { follow, state } = replay([...events, ...late]);
    const out = new Sink();
    expect(await runWatch({ follow, run: script.run, json: true, out, isTTY: false })).toBe('finished');
    await settle();
    const lines = out.text.trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(events);
    expect(state).toEqual({ stops: 1, from: ['start'] });
  });

  it('works when the bus delivers after follow resolves', async () => {
    const script = fullRun().finish('failed', 'coordinator lost its checkpoint');
    const { follow } = replay(script.events, 'async');
    const out = new Sink();
    expect(await afterFakeTime(script.events.length, runWatch({ follow, run: script.run, json: true, out, isTTY: false }))).toBe('failed');
    await settle();
    expect(out.text.trimEnd().split('\n')).toHaveLength(script.events.length);
  });
});

describe('runWatch, not a terminal', () => {
  it('writes one logfmt line per event, none cut at any width, and ends at run.finished', async () => {
    const reason = `coordinator lost its checkpoint: ${'a very long explanation '.repeat(8)}`.trim();
    const script = fullRun().leave('w1', 'evicted: silent for 120 s (heartbeat timeout)').finish('failed', reason);
    const { follow, state } = replay(script.events);
    const out = new Sink();
    expect(await runWatch({ follow, run: script.run, json: false, out, isTTY: false })).toBe('failed');
    await settle();
    expect(out.text).not.toContain(ESC);
    const lines = out.text.trimEnd().split('\n');
    // No frames: one line per event, each starting with its own time, run and type.
    expect(lines).toHaveLength(script.events.length);
    for (const [i, line] of lines.entries()) {
      const e = script.events[i]!;
      expect(line.startsWith(`time=${e.time} run=${e.run} type=${e.type} `)).toBe(true);
      expect(line.endsWith(` source=${e.source}`)).toBe(true);
    }
    expect(lines[0]).toContain('workers=2 model=cnn epochs=2 batchSize=50');
    expect(lines.find((l) => l.includes('type=worker.left'))).toContain('reason="evicted: silent for 120 s (heartbeat timeout)"');
    // A late round carries the run's ETA as the view computes it.
    expect(lines.filter((l) => l.includes('type=round')).at(-1)).toMatch(/ eta=\d+s /);
    const last = lines.at(-1)!;
    expect(last.length).toBeGreaterThan(200);
    expect(last).toContain(`status=failed version=20 epochs=2 reason=${JSON.stringify(reason)}`);
    expect(state.stops).toBe(1);
  });
});

describe('runWatch on a terminal', () => {
  it('redraws the frame in place every refreshMs', async () => {
    const script = fullRun().finish();
    const { follow } = replay(script.events, 'async');
    const out = new Sink();
    expect(
      await afterFakeTime(
        script.events.length,
        runWatch({ follow, run: script.run, json: false, out, isTTY: true, refreshMs: 5, width: 100, color: false }),
      ),
    ).toBe('finished');
    await settle();
    const redraws = out.text.split(new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`));
    expect(redraws.length).toBeGreaterThan(2);
    // Each redraw moves up exactly the previous frame's lines.
    const ups = [...out.text.matchAll(new RegExp(`${ESC}\\[(\\d+)F`, 'g'))].map((m) => Number(m[1]));
    for (const [i, frame] of redraws.slice(0, -1).entries()) expect(ups[i]).toBe(frame.trimEnd().split('\n').length);
    const last = redraws.at(-1)!;
    expect(last).toContain('best 55.00%');
    expect(last.trimEnd().split('\n').at(-1)).toBe('finished');
    for (const l of last.trimEnd().split('\n')) expect(l.length).toBeLessThan(100);
  });
});

describe('runWatch on a terminal of any width', () => {
  it("fits the frame to the terminal's columns, read at each redraw", async () => {
    const script = new RunScript()
      .start()
      .join('w0', `host-${'a'.repeat(60)}`)
      .rounds(3);
    const { follow, deliver } = manual();
    const out = Object.assign(new Sink(), { columns: 160 });
    const controller = new AbortController();
    const watching = runWatch({
      follow,
      run: script.run,
      json: false,
      out,
      isTTY: true,
      refreshMs: 5,
      color: false,
      signal: controller.signal,
    });
    await settle();
    for (const e of script.events) deliver(e);
    await vi.advanceTimersByTimeAsync(10);
    const frameLines = (): number[] =>
      out.text
        .split(new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`))
        .at(-1)!
        .trimEnd()
        .split('\n')
        .map((l) => l.length);
    // Wider than the old fixed 100, within the terminal (one column spare).
    expect(Math.max(...frameLines())).toBeGreaterThan(100);
    expect(Math.max(...frameLines())).toBeLessThanOrEqual(159);
    out.columns = 60;
    await vi.advanceTimersByTimeAsync(10);
    expect(Math.max(...frameLines())).toBeLessThanOrEqual(59);
    controller.abort();
    expect(await watching).toBe('stopped');
  });
});

describe('runWatch stopping', () => {
  it('resolves stopped on abort, and stops following', async () => {
    const script = fullRun();
    const { follow, state } = replay(script.events);
    const controller = new AbortController();
    const watching = runWatch({ follow, run: script.run, json: true, out: new Sink(), isTTY: false, signal: controller.signal });
    await settle();
    controller.abort();
    expect(await watching).toBe('stopped');
    expect(state.stops).toBe(1);
  });

  it('with untilFinished false keeps following past run.finished', async () => {
    const script = fullRun().finish();
    const { follow } = replay(script.events);
    const controller = new AbortController();
    const out = new Sink();
    const watching = runWatch({ follow, run: script.run, json: false, out, isTTY: false, untilFinished: false, signal: controller.signal });
    let result: string | undefined;
    void watching.then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(result).toBeUndefined();
    expect(out.text).toContain('finished');
    controller.abort();
    expect(await watching).toBe('stopped');
  });

  it('does not follow with an aborted signal; does not hang on a bus that never answers', async () => {
    let calls = 0;
    const never: FollowFn = () => {
      calls++;
      return new Promise(() => {});
    };
    expect(await runWatch({ follow: never, run: 'r', json: true, out: new Sink(), isTTY: false, signal: AbortSignal.abort() })).toBe(
      'stopped',
    );
    expect(calls).toBe(0);
    const controller = new AbortController();
    let result: string | undefined;
    const watching = runWatch({
      follow: never,
      run: 'r',
      json: false,
      out: new Sink(),
      isTTY: true,
      refreshMs: 5,
      signal: controller.signal,
    });
    void watching.then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(1000);
    expect(result).toBeUndefined();
    controller.abort();
    expect(await watching).toBe('stopped');
  });

  it('rejects when follow fails', async () => {
    const broken: FollowFn = () => Promise.reject(new Error('no stream for run r'));
    await expect(runWatch({ follow: broken, run: 'r', json: false, out: new Sink(), isTTY: false })).rejects.toThrow('no stream for run r');
  });
});
