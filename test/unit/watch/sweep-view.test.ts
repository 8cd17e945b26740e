import { describe, expect, it } from 'vitest';
import type { EventPayloads, EventType, FleetEvent } from '../../../src/events/event-payloads.js';
import { eventPayloadSchemas } from '../../../src/events/event-payloads.js';
import { renderSweepEventLine, renderSweepView, SweepView } from '../../../services/watch/sweep-view.js';
import { runSweepWatch } from '../../../services/watch/sweep-watch.js';

/** A sweep's events as the driver publishes them, each checked against the contract. */
function sweepEvents(): FleetEvent[] {
  let seq = 0;
  const e = <T extends EventType>(type: T, data: EventPayloads[T]): FleetEvent => {
    eventPayloadSchemas[type].parse(data);
    seq++;
    return { type, run: 'sw-1', source: 'sweep:ab12', seq, time: new Date(Date.UTC(2026, 11, 6, 10, 0, seq)).toISOString(), data };
  };
  const trials = [
    { trial: 't000', params: { lr: 0.05 } },
    { trial: 't001', params: { lr: 0.3 } },
    { trial: 't002', params: { lr: 50 } },
  ];
  return [
    e('sweep.started', {
      name: 'lr',
      metric: 'testAccuracy',
      varied: ['lr'],
      pruning: 'asha',
      parallel: 1,
      workersPerTrial: 1,
      resumed: false,
      trials: trials.map((t) => ({ ...t, status: 'pending' as const })),
    }),
    e('trial.started', { trial: 't000', params: { lr: 0.05 }, seed: 1, repeat: 0, runId: 'sw-1-t000', resumed: false }),
    e('trial.epoch', { trial: 't000', epoch: 1, value: 0.5, best: 0.5 }),
    e('trial.epoch', { trial: 't000', epoch: 2, value: 0.75, best: 0.75 }),
    e('trial.finished', { trial: 't000', status: 'finished', epochs: 2, best: 0.75, bestEpoch: 2, reason: null }),
    e('trial.started', { trial: 't001', params: { lr: 0.3 }, seed: 1, repeat: 0, runId: 'sw-1-t001', resumed: false }),
    e('trial.epoch', { trial: 't001', epoch: 1, value: 0.1, best: 0.1 }),
    e('trial.pruned', { trial: 't001', epoch: 1, rule: 'asha', reason: 'ranks 2 of 2', best: 0.1 }),
    e('trial.started', { trial: 't002', params: { lr: 50 }, seed: 1, repeat: 0, runId: 'sw-1-t002', resumed: false }),
    e('trial.finished', {
      trial: 't002',
      status: 'failed',
      epochs: 0,
      best: null,
      bestEpoch: null,
      reason: 'training diverged at epoch 1',
    }),
    e('sweep.finished', { status: 'finished', finished: 1, pruned: 1, failed: 1, best: { trial: 't000', value: 0.75 } }),
  ];
}

describe('SweepView', () => {
  it('folds the events into the trial table: status, epoch, best, pruned at, failure', () => {
    const view = new SweepView('sw-1');
    const events = sweepEvents();
    for (const event of events.slice(0, 7)) view.apply(event);
    expect(view.snapshot().trials.map((t) => [t.trial, t.status, t.epoch, t.best])).toEqual([
      ['t000', 'finished', 2, 0.75],
      ['t001', 'running', 1, 0.1],
      ['t002', 'pending', null, null],
    ]);
    for (const event of events.slice(7)) view.apply(event);
    // Redelivered: applied once.
    view.apply(events[2]!);
    const s = view.snapshot();
    expect(s.trials[1]).toMatchObject({ status: 'pruned', prunedAt: { epoch: 1, rule: 'asha' } });
    expect(s.trials[2]).toMatchObject({ status: 'failed', reason: 'training diverged at epoch 1' });
    expect(s.finished).toEqual({ status: 'finished', best: { trial: 't000', value: 0.75 } });
    expect(s.events).toBe(events.length);
  });

  it('renders a table a terminal redraws, every line within the width', () => {
    const view = new SweepView('sw-1');
    for (const event of sweepEvents()) view.apply(event);
    const text = renderSweepView(view.snapshot(), 100);
    expect(text.split('\n')).toEqual([
      'sweep sw-1  lr  metric testAccuracy  pruning asha  parallel 1  1 finished, 1 pruned, 1 failed',
      '  trial  params   status    epoch  best    pruned at / failure',
      '  t000   lr=0.05  finished  2      75.00%',
      '  t001   lr=0.3   pruned    1      10.00%  epoch 1 (asha)',
      '  t002   lr=50    failed    -      -       failed: training diverged at epoch 1',
      'finished: best t000 75.00% (lr=0.05)',
    ]);
    for (const line of renderSweepView(view.snapshot(), 40).split('\n')) expect(line.length).toBeLessThanOrEqual(40);
    expect(renderSweepView(new SweepView('sw-2').snapshot(), 80)).toBe('sweep sw-2  waiting for sweep.started');
  });

  it('writes one logfmt line per event without a terminal: params as one field, trials as a count', () => {
    const [started, trialStarted] = sweepEvents();
    expect(renderSweepEventLine(started!)).toBe(
      'time=2026-12-06T10:00:01.000Z sweep=sw-1 type=sweep.started name=lr metric=testAccuracy varied=lr pruning=asha parallel=1 workersPerTrial=1 resumed=false trials=3 source=sweep:ab12\n',
    );
    expect(renderSweepEventLine(trialStarted!)).toContain('trial=t000 params="lr=0.05" seed=1');
    expect(renderSweepEventLine(sweepEvents().at(-1)!)).toContain('bestTrial=t000 best=0.75');
  });
});

describe('runSweepWatch', () => {
  it('ends at sweep.finished with its status; without a terminal one line per event', async () => {
    let text = '';
    const write = (s: string): boolean => {
      text += s;
      return true;
    };
    const out = { write } as unknown as NodeJS.WritableStream;
    const outcome = await runSweepWatch({
      sweep: 'sw-1',
      json: false,
      out,
      isTTY: false,
      follow: async (_run, handler) => {
        for (const event of sweepEvents()) handler(event);
        return { stop: async () => {} };
      },
    });
    expect(outcome).toBe('finished');
    expect(text.trim().split('\n')).toHaveLength(sweepEvents().length);
  });
});
