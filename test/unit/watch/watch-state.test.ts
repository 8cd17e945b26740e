import { describe, expect, it } from 'vitest';
import { RunView, WATCH_RULES } from '../../../services/watch/watch-state.js';
import { RunScript, T0 } from './watch-events.js';

function viewOf(script: RunScript): RunView {
  const view = new RunView(script.run);
  for (const e of script.events) view.apply(e);
  return view;
}

const twoWorkers = (): RunScript => new RunScript().start().join('w0', 'host-a').join('w1', 'host-b');

describe('RunView', () => {
  it('starts from run.started: config, members, nothing measured yet', () => {
    const s = viewOf(twoWorkers()).snapshot(T0);
    expect(s.run).toBe('run-watch-1');
    expect(s.config).toMatchObject({ workers: 2, model: 'cnn', epochs: 2, totalSteps: 20, trainSamples: 1000 });
    expect(s.members.map((m) => [m.worker, m.name, m.status])).toEqual([
      ['w0', 'host-a', 'active'],
      ['w1', 'host-b', 'active'],
    ]);
    expect(s).toMatchObject({
      activeMembers: 2,
      epochProgress: null,
      globalStep: null,
      etaMs: null,
      imagesPerSecond: null,
      straggler: null,
      finished: null,
    });
  });

  it('tracks epoch progress, steps and each worker', () => {
    const script = twoWorkers().rounds(3, { roundMs: 200 });
    const s = viewOf(script).snapshot(script.nowMs + 1000);
    expect(s.epoch).toBe(1);
    expect(s.epochProgress).toEqual({ done: 300, total: 1000, fraction: 0.3 });
    expect([s.round, s.globalStep, s.totalSteps]).toEqual([3, 3, 20]);
    expect(s.roundMs).toBe(200);
    expect(s.roundMsMean).toBe(200);
    expect([s.bytesIn, s.bytesOut]).toEqual([6000, 12000]);
    const w0 = s.members[0]!;
    expect(w0).toMatchObject({ worker: 'w0', round: 3, epoch: 1, epochSamples: 150, lastSeenMs: script.nowMs, sinceSeenMs: 1000 });
    expect([s.lastEventMs, s.sinceEventMs]).toEqual([script.nowMs, 1000]);
    expect(w0.loss).toBeCloseTo(2.15);
    // EMA with alpha 0.2 over 2.25, 2.2, 2.15
    const ema = 2.25 + 0.2 * (2.2 - 2.25);
    expect(w0.lossEma).toBeCloseTo(ema + 0.2 * (2.15 - ema));
    expect(w0.imagesPerSecond).toBeGreaterThan(0);
  });

  it('resets a worker’s epoch samples when its epoch changes', () => {
    const script = twoWorkers().rounds(12);
    const s = viewOf(script).snapshot(script.nowMs);
    expect(s.epoch).toBe(2);
    expect(s.epochProgress?.fraction).toBeCloseTo(0.2);
    expect(s.members[1]).toMatchObject({ epoch: 2, epochSamples: 100 });
    expect(s.lastEpoch).toMatchObject({ epoch: 1, trainLoss: 1.5, trainAccuracy: 0.45 });
  });

  it('gives an ETA and global images/s once two rounds are seen', () => {
    const script = twoWorkers().closeRound({ roundMs: 250 });
    expect(viewOf(script).snapshot(script.nowMs).etaMs).toBeNull();
    script.rounds(4, { roundMs: 250 });
    const s = viewOf(script).snapshot(script.nowMs);
    // 250 ms of wall clock per step, 15 of 20 steps left
    expect(s.msPerStep).toBeCloseTo(250);
    expect(s.etaMs).toBeCloseTo(15 * 250);
    expect(s.imagesPerSecond).toBeCloseTo(100 / 0.25);
  });

  it('counts the wall clock between rounds, not only roundMs', () => {
    const script = twoWorkers().rounds(5, { roundMs: 200, advanceMs: 400 });
    expect(viewOf(script).snapshot(script.nowMs).etaMs).toBeCloseTo(15 * 400);
  });

  it('names a straggler that is last most of the time by a large gap', () => {
    const script = twoWorkers().rounds(10, (i) => ({ straggler: i % 5 === 0 ? 'w0' : 'w1', straggleMs: 150, roundMs: 400 }));
    const s = viewOf(script).snapshot(script.nowMs);
    expect(s.straggler).toMatchObject({ worker: 'w1', name: 'host-b', rounds: 8, windowRounds: 10, meanStraggleMs: 150, meanRoundMs: 400 });
    expect(s.members.map((m) => m.straggledRounds)).toEqual([2, 8]);
    expect(s.windowRounds).toBe(10);
  });

  it('names nobody before enough rounds', () => {
    const script = twoWorkers().rounds(WATCH_RULES.stragglerMinRounds - 1, { straggler: 'w1', straggleMs: 300 });
    expect(viewOf(script).snapshot(script.nowMs).straggler).toBeNull();
    script.closeRound({ straggler: 'w1', straggleMs: 300 });
    expect(viewOf(script).snapshot(script.nowMs).straggler?.worker).toBe('w1');
  });

  it('names nobody when last arrivals alternate', () => {
    const script = twoWorkers().rounds(10, (i) => ({ straggler: i % 2 === 0 ? 'w0' : 'w1', straggleMs: 200, roundMs: 400 }));
    expect(viewOf(script).snapshot(script.nowMs).straggler).toBeNull();
  });

  it('names nobody when the gaps are small', () => {
    // Always last, but 30 ms (< 50 ms) ...
    const small = twoWorkers().rounds(10, { straggler: 'w1', straggleMs: 30, roundMs: 100 });
    expect(viewOf(small).snapshot(small.nowMs).straggler).toBeNull();
    // ... or 60 ms of a 1000 ms round (< 20%).
    const relative = twoWorkers().rounds(10, { straggler: 'w1', straggleMs: 60, roundMs: 1000 });
    expect(viewOf(relative).snapshot(relative.nowMs).straggler).toBeNull();
  });

  it('judges the last 10 rounds only', () => {
    const script = twoWorkers()
      .rounds(10, { straggler: 'w1', straggleMs: 200, roundMs: 400 })
      .rounds(10, (i) => ({ straggler: i % 2 === 0 ? 'w0' : 'w1', straggleMs: 200, roundMs: 400 }));
    expect(viewOf(script).snapshot(script.nowMs).straggler).toBeNull();
  });

  it('keeps the latest eval and the best model', () => {
    const script = twoWorkers().rounds(10).evaluate(0.41, true);
    let s = viewOf(script).snapshot(script.nowMs);
    expect(s.latestEval).toMatchObject({ version: 10, epoch: 1, accuracy: 0.41 });
    expect(s.best).toEqual({ version: 10, epoch: 1, accuracy: 0.41, path: 'runs/run-watch-1/best' });

    script.rounds(10).evaluate(0.38, false);
    s = viewOf(script).snapshot(script.nowMs);
    expect(s.latestEval).toMatchObject({ version: 20, epoch: 2, accuracy: 0.38 });
    expect(s.best).toMatchObject({ version: 10, accuracy: 0.41 });
  });

  it('marks a worker that left with its reason, and stops naming it', () => {
    const script = twoWorkers().rounds(10, { straggler: 'w1', straggleMs: 200, roundMs: 400 });
    expect(viewOf(script).snapshot(script.nowMs).straggler?.worker).toBe('w1');
    script.leave('w1', 'heartbeat timeout').closeRound();
    const s = viewOf(script).snapshot(script.nowMs);
    expect(s.activeMembers).toBe(1);
    expect(s.members.map((m) => [m.worker, m.status, m.leftReason])).toEqual([
      ['w0', 'active', null],
      ['w1', 'left', 'heartbeat timeout'],
    ]);
    expect(s.straggler).toBeNull();

    script.join('w1', 'host-b');
    expect(viewOf(script).snapshot(script.nowMs).members[1]).toMatchObject({ status: 'active', leftReason: null });
  });

  it('records the end of the run, with ETA 0 when finished', () => {
    const done = twoWorkers().rounds(20).finish();
    expect(viewOf(done).snapshot(done.nowMs)).toMatchObject({ finished: { status: 'finished', reason: null, epochs: 2 }, etaMs: 0 });
    const failed = twoWorkers().rounds(3).finish('failed', 'all workers left');
    expect(viewOf(failed).snapshot(failed.nowMs)).toMatchObject({
      finished: { status: 'failed', reason: 'all workers left' },
      etaMs: null,
    });
  });

  it('on a resumed start forgets the old members and the old timing', () => {
    const script = twoWorkers().rounds(5);
    const resumed = new RunScript(script.run, script.config, 'coordinator:9b0e');
    resumed.nowMs = script.nowMs + 60_000;
    resumed.start(true);
    const view = viewOf(script);
    for (const e of resumed.events) view.apply(e);
    const s = view.snapshot(resumed.nowMs);
    expect(s.members.every((m) => m.status === 'left' && m.leftReason === 'coordinator restarted')).toBe(true);
    expect([s.etaMs, s.roundMsMean]).toEqual([null, null]);
    expect(s.config?.resumed).toBe(true);
  });

  it('applies a redelivered event once and ignores other runs', () => {
    const script = twoWorkers().rounds(2);
    const view = viewOf(script);
    for (const e of script.events) view.apply(e);
    view.apply({ ...script.events[0]!, run: 'other-run', seq: 999 });
    const s = view.snapshot(script.nowMs);
    expect(s.events).toBe(script.events.length);
    expect(s.members[0]?.epochSamples).toBe(100);
    expect([s.bytesIn, s.bytesOut]).toEqual([4000, 8000]);
  });

  it('follows from the middle: workers appear from their progress', () => {
    const script = twoWorkers().rounds(3);
    const view = new RunView();
    for (const e of script.events.filter((x) => x.type === 'worker.progress' || x.type === 'round')) view.apply(e);
    const s = view.snapshot(script.nowMs);
    expect(s.run).toBe(script.run);
    expect(s.config).toBeNull();
    expect(s.members.map((m) => [m.worker, m.name, m.status])).toEqual([
      ['w0', 'w0', 'active'],
      ['w1', 'w1', 'active'],
    ]);
    expect(s.etaMs).toBeNull();
    expect(s.epochProgress?.fraction).toBeCloseTo(0.3);
  });
});
