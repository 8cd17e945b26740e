import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitForRun, WatchWaitTimeoutError, type RunLocator } from '../../../services/watch/wait-for-run.js';
import { afterFakeTime, settle } from '../../helpers/wait.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const URL = 'nats://10.0.0.7:4222';

/** A server whose stream the test fills in as it goes: runs in publishing order, their event counts, which ones started. */
function server() {
  const state = { stream: false, events: new Map<string, number>(), started: [] as string[], checks: 0 };
  const locator: RunLocator = {
    hasStream: async () => {
      state.checks++;
      return state.stream;
    },
    latestRun: async () => state.started.at(-1) ?? null,
    runEventCount: async (run) => state.events.get(run) ?? 0,
    knownRuns: async (limit) => {
      const all = [...state.events.keys()].reverse();
      return { runs: all.slice(0, limit), total: all.length };
    },
  };
  return { state, locator };
}

function collector() {
  const lines: string[] = [];
  return { lines, say: (line: string) => void lines.push(line) };
}

describe('waitForRun', () => {
  it('waits for the stream without creating it, saying so at once and then every reportEveryMs with the time waited', async () => {
    const { state, locator } = server();
    const { lines, say } = collector();
    const waiting = waitForRun({ locator, run: null, url: URL, say, timeoutMs: 0, pollMs: 1000, reportEveryMs: 15_000 });
    await settle();
    expect(lines).toEqual([`no FLEET_EVENTS stream on ${URL} yet: waiting for a run to publish (started with --nats ${URL})`]);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(`no FLEET_EVENTS stream on ${URL} yet: waiting for a run to publish (started with --nats ${URL}) (15s so far)`);
    // It re-checks every pollMs meanwhile.
    expect(state.checks).toBe(30);
    // A publisher creates the stream: a new state is said at once.
    state.stream = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(lines[2]).toBe(`no run has started on ${URL} yet: waiting for one (30s so far)`);
    state.events.set('r1', 1);
    state.started.push('r1');
    expect(await afterFakeTime(1000, waiting)).toBe('r1');
    expect(lines).toHaveLength(3);
  });

  it('with --run: names the run, the server and the runs the stream does hold, newest first', async () => {
    const { state, locator } = server();
    state.stream = true;
    for (const run of ['old-run', 'my-run']) state.events.set(run, 40);
    const { lines, say } = collector();
    const waiting = waitForRun({ locator, run: 'my-rnu', url: URL, say, timeoutMs: 0, reportEveryMs: 10_000 });
    await settle();
    expect(lines).toEqual([`waiting for run my-rnu: no events yet on ${URL}; the stream holds 2 runs, newest first: my-run, old-run`]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(lines.slice(1)).toEqual([
      `waiting for run my-rnu: no events yet on ${URL} (10s so far); the stream holds 2 runs, newest first: my-run, old-run`,
      `waiting for run my-rnu: no events yet on ${URL} (20s so far); the stream holds 2 runs, newest first: my-run, old-run`,
    ]);
    state.events.set('my-rnu', 1);
    expect(await afterFakeTime(1000, waiting)).toBe('my-rnu');
  });

  it('starts at once, silently, when the run is there', async () => {
    const { state, locator } = server();
    state.stream = true;
    state.events.set('r1', 3);
    state.started.push('r1');
    const { lines, say } = collector();
    expect(await waitForRun({ locator, run: 'r1', url: URL, say, timeoutMs: 0 })).toBe('r1');
    expect(await waitForRun({ locator, run: null, url: URL, say, timeoutMs: 0 })).toBe('r1');
    expect(lines).toEqual([]);
  });

  it('gives up after timeoutMs, saying what it waited for; returns null when stopped', async () => {
    const { locator } = server();
    const { say } = collector();
    const giving = waitForRun({ locator, run: 'r9', url: URL, say, timeoutMs: 5000, pollMs: 1000 });
    const failed = afterFakeTime(5000, giving).catch((err: unknown) => err);
    const err = await failed;
    expect(err).toBeInstanceOf(WatchWaitTimeoutError);
    expect((err as Error).message).toBe(
      `gave up after 5s (--wait-timeout): no FLEET_EVENTS stream on ${URL} yet: waiting for a run to publish (started with --nats ${URL})`,
    );

    const controller = new AbortController();
    const stopped = waitForRun({ locator, run: null, url: URL, say, timeoutMs: 0, signal: controller.signal });
    await vi.advanceTimersByTimeAsync(3000);
    controller.abort();
    expect(await afterFakeTime(0, stopped)).toBeNull();
  });
});
