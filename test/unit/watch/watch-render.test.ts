import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatDuration,
  progressBar,
  renderEventLine,
  renderJsonLine,
  renderView,
} from '../../../services/watch/watch-render.js';
import { RunView, type WatchSnapshot } from '../../../services/watch/watch-state.js';
import { RunScript } from './watch-events.js';

const plain = { width: 120, color: false };

function snapshotOf(script: RunScript): WatchSnapshot {
  const view = new RunView(script.run);
  for (const e of script.events) view.apply(e);
  return view.snapshot(script.nowMs);
}

/** 2 workers, w1 late by 340 ms in 8 of the last 10 rounds, evaluated twice. */
function busyRun(): RunScript {
  return new RunScript()
    .start()
    .join('w0')
    .join('w1')
    .rounds(10, (i) => ({ straggler: i % 5 === 0 ? 'w0' : 'w1', straggleMs: 340, roundMs: 900 }))
    .evaluate(0.71234, true)
    .rounds(2, { straggler: 'w1', straggleMs: 340, roundMs: 900 })
    .evaluate(0.6999, false);
}

describe('renderView', () => {
  it('shows the header, one bar per worker, accuracy and the straggler', () => {
    const frame = renderView(snapshotOf(busyRun()), plain);
    const lines = frame.split('\n');
    expect(lines[0]).toMatch(
      /^run run-watch-1 {2}cnn {2}workers 2\/2 {2}epoch 2\/2 {2}step 12\/20 {2}ETA 7s {2}\d+ img\/s {2}round 900 ms/,
    );
    const workers = lines.filter((l) => /^ {2}w\d/.test(l));
    expect(workers).toHaveLength(2);
    for (const l of workers) expect(l).toMatch(/\[#+\.+\] +20%/);
    expect(workers[1]).toMatch(/^ {2}w1 .* img\/s {2}loss \d\.\d{4} {2}round 12/);
    expect(frame).toContain('test accuracy: 69.99% (v12, epoch 1)  best 71.23% (v10, epoch 1)');
    expect(frame).toContain('straggler: w1 (+340 ms/round)');
    expect(frame).not.toMatch(/finished|failed/);
    expect(frame).not.toContain('\x1b');
  });

  it('draws the bar with the epoch fraction, floored', () => {
    const s = { ...snapshotOf(busyRun()), epochProgress: { done: 563, total: 1000, fraction: 0.563 } };
    const bar = /\[(#*)(\.*)\] +(\d+)%/.exec(renderView(s, plain));
    expect(bar?.[3]).toBe('56');
    const cells = bar![1]!.length + bar![2]!.length;
    expect(bar![1]!.length).toBe(Math.floor(0.563 * cells));
    expect(progressBar(0.5625, 16)).toBe('[#########.......]');
    expect(progressBar(1, 4)).toBe('[####]');
    expect(progressBar(0, 4)).toBe('[....]');
  });

  it('shows a worker that left with its reason, and the end of the run', () => {
    const script = new RunScript().start().join('w0', 'host-a').join('w1').rounds(3).leave('w1', 'heartbeat timeout').closeRound();
    let frame = renderView(snapshotOf(script), plain);
    expect(frame).toContain('w0 (host-a)');
    expect(frame).toMatch(/ {2}w1 +left: heartbeat timeout/);
    expect(frame).toContain('workers 1/2');
    expect(frame).toContain('test accuracy: -');

    frame = renderView(snapshotOf(script.finish('failed', 'no workers left')), plain);
    expect(frame.split('\n').at(-1)).toBe('failed: no workers left');
    const done = renderView(snapshotOf(new RunScript().start().join('w0').rounds(20).finish()), plain);
    expect(done.split('\n').at(-1)).toBe('finished');
    expect(done).toContain('ETA 0s');
  });

  it('shows the run files a full disk refused: how many, and the last (service, file, errno, in a row)', () => {
    const script = new RunScript().start().join('w0').rounds(3);
    expect(renderView(snapshotOf(script), plain)).not.toContain('disk:');
    const refused = (consecutive: number, what: 'checkpoint' | 'metrics', source = script.coordinator) =>
      script.emit(
        'run.write_failed',
        { what, path: `/runs/r1/${what}`, code: 'ENOSPC', message: 'no space left', consecutive, round: 3, epoch: 1 },
        source,
      );
    refused(1, 'checkpoint');
    refused(2, 'checkpoint');
    refused(1, 'metrics', script.evaluator);
    expect(renderView(snapshotOf(script), plain)).toContain(
      "disk: 3 writes refused  last: the evaluator's metrics /runs/r1/metrics (ENOSPC, 1 in a row)",
    );
  });

  it('flags a worker the run goes on without, or a run with no events', () => {
    const script = new RunScript().start().join('w0').join('w1').rounds(10, { roundMs: 5000 });
    // w1's last 8 contributions never came (the coordinator closed the rounds without it).
    const quiet = script.events.filter((e) => {
      const d = e.data as { worker?: string; round?: number };
      return !(e.type === 'worker.progress' && d.worker === 'w1' && (d.round ?? 0) > 2);
    });
    const view = new RunView(script.run);
    for (const e of quiet) view.apply(e);
    let frame = renderView(view.snapshot(script.nowMs), plain);
    expect(frame).toMatch(/ {2}w1 .* quiet 40s$/m);
    expect(frame).not.toMatch(/ {2}w0 .* quiet/);
    expect(frame).not.toContain('no events');
    // Nothing at all for a minute: said once, in the header.
    frame = renderView(view.snapshot(script.nowMs + 60_000), plain);
    expect(frame.split('\n')[1]).toBe('no events for 1m00s');
    expect(frame).not.toContain('quiet');
  });

  it('waits gracefully before run.started', () => {
    const frame = renderView(new RunView('r1').snapshot(0), plain);
    expect(frame).toContain('run r1  waiting for run.started');
    expect(frame).toContain('no workers yet');
  });

  it('fits every line in the width; colour only when asked', () => {
    const s = snapshotOf(busyRun());
    for (const width of [40, 80, 200]) {
      for (const l of renderView(s, { width, color: false }).split('\n')) expect(l.length).toBeLessThanOrEqual(width);
    }
    const colored = renderView(s, { width: 80, color: true });
    expect(colored).toContain('\x1b[');
    const stripped = colored.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
    expect(stripped).toBe(renderView(s, { width: 80, color: false }));
  });

  it('formats durations and sizes for people', () => {
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(725_000)).toBe('12m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1_234_567)).toBe('1.23 MB');
  });
});

describe('renderJsonLine', () => {
  it('writes one line that parses back to the event', () => {
    const script = busyRun().finish();
    for (const e of script.events) {
      const line = renderJsonLine(e);
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      expect(JSON.parse(line)).toEqual(e);
    }
  });
});

describe('renderEventLine', () => {
  it('writes one logfmt line per event: scalars only, strings quoted when they must be, the view on rounds', () => {
    const script = busyRun().leave('w0', 'said "bye" = gone\nfor good').finish();
    const view = new RunView(script.run);
    const lines = script.events.map((e) => {
      view.apply(e);
      return renderEventLine(e, view.snapshot(Date.parse(e.time)));
    });
    for (const l of lines) {
      expect(l.endsWith('\n')).toBe(true);
      expect(l.slice(0, -1)).not.toContain('\n');
    }
    const evalLine = lines.find((l) => l.includes(' type=eval '))!;
    expect(evalLine).toMatch(/^time=2025-03-01T12:\d\d:\d\d\.\d{3}Z run=run-watch-1 type=eval version=10 epoch=1 /);
    expect(evalLine).toContain(' accuracy=0.71234 ');
    // Arrays (per-class accuracy, the confusion matrix) are --json's.
    expect(evalLine).not.toMatch(/perClassAccuracy|confusion/);
    expect(lines.find((l) => l.includes(' type=best '))).toContain(' path=runs/run-watch-1/best ');
    expect(lines.find((l) => l.includes(' type=worker.left '))).toContain(' reason="said \\"bye\\" = gone\\nfor good" ');
    // By round 12 the view names w1 as the straggler and knows the ETA; a round alone does not say either.
    const lastRound = lines.filter((l) => l.includes(' type=round ')).at(-1)!;
    expect(lastRound).toMatch(/ straggler=w1 straggleMs=340 .* eta=\d+s namedStraggler=w1 source=coordinator:3f9a\n$/);
    expect(lines.find((l) => l.includes(' type=run.started '))).not.toContain('eta=');
    expect(lines.at(-1)).toMatch(/type=run.finished status=finished version=\d+ epochs=2 source=coordinator:3f9a\n$/);
  });
});
