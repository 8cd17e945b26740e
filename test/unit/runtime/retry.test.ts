import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { retryWithBackoff } from '../../../src/runtime/retry.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const unavailable = () => Object.assign(new Error('14 UNAVAILABLE: connect ECONNREFUSED'), { code: status.UNAVAILABLE });
const options = (signal?: AbortSignal) => ({
  what: 'next round',
  timeoutMs: 300_000,
  retriable: (err: unknown) => (err as { code?: number }).code === status.UNAVAILABLE,
  log: pino({ level: 'silent' }),
  ...(signal ? { signal } : {}),
});

describe('retryWithBackoff and a stop signal', () => {
  it('retries an unavailable call until it succeeds', async () => {
    let calls = 0;
    const result = retryWithBackoff(options(), async () => {
      calls++;
      if (calls < 3) throw unavailable();
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(5000);
    await expect(result).resolves.toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up at once when stopped: a wait is cut short and no further attempt is made', async () => {
    const stop = new AbortController();
    let calls = 0;
    const result = retryWithBackoff(options(stop.signal), async () => {
      calls++;
      throw unavailable();
    });
    const outcome = result.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(1);
    // Waiting for the second attempt (0.5 s back-off): the stop ends the wait, not after five minutes.
    stop.abort();
    await vi.advanceTimersByTimeAsync(0);
    await expect(outcome).resolves.toBe('14 UNAVAILABLE: connect ECONNREFUSED');
    expect(calls).toBe(1);
  });

  it('makes no retry once already stopped', async () => {
    const stop = new AbortController();
    stop.abort();
    let calls = 0;
    await expect(
      retryWithBackoff(options(stop.signal), async () => {
        calls++;
        throw unavailable();
      }),
    ).rejects.toThrow(/UNAVAILABLE/);
    expect(calls).toBe(1);
  });
});
