/**
 * The coordinator's wait for the evaluator's last score, with the evaluator's
 * liveness watched (services/coordinator/telemetry/wait-for-evaluation.ts):
 * an evaluator silent since its last beat ends the wait at once; one never
 * heard is given the whole heartbeat timeout from the start of the wait (a
 * niced evaluator slow to start beside a short run was taken for dead, and
 * the run's first epoch went unscored).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { openEventBus } from '../../../src/events/index.js';
import type { EvaluatorLiveness } from '../../../services/coordinator/telemetry/evaluator-liveness.js';
import { waitForEvaluation } from '../../../services/coordinator/telemetry/wait-for-evaluation.js';

const log = pino({ level: 'silent' });

/** A watch that has heard nothing for a minute: from `lastSource`, or never. */
function silentFor(lastSource: string | null): EvaluatorLiveness {
  return { silentForMs: () => 60_000, lastSource, refused: null, stop: async () => {} };
}

async function timedWait(watch: EvaluatorLiveness): Promise<{ how: string; ms: number }> {
  const bus = await openEventBus({ natsUrl: null, name: 'test', log });
  const started = Date.now();
  try {
    const how = await waitForEvaluation(bus, 'run-1', 4, 10_000, log, { liveness: { watch, timeoutMs: 1200 } });
    return { how, ms: Date.now() - started };
  } finally {
    await bus.close();
  }
}

describe('waiting for the last score, the evaluator watched', () => {
  it('an evaluator silent since its last beat: the wait ends at the first check', async () => {
    const r = await timedWait(silentFor('evaluator:abc'));
    expect(r.how).toBe('evaluator-silent');
    expect(r.ms).toBeLessThan(1000);
  });

  it('an evaluator never heard: the whole heartbeat timeout from the start of the wait, then it ends', async () => {
    const r = await timedWait(silentFor(null));
    expect(r.how).toBe('evaluator-silent');
    expect(r.ms).toBeGreaterThanOrEqual(1200);
    expect(r.ms).toBeLessThan(5000);
  });
});
