import pino from 'pino';
import { expect } from 'vitest';
import { connectNatsBus, type AnyFleetEvent } from '../../src/events/index.js';

/** Every event of `run` in the stream of the nats-server at `url`, read from the start until run.finished. */
export async function readRunEvents(
  url: string,
  run: string,
  timeoutMs = 30_000,
): Promise<{ events: AnyFleetEvent[]; malformed: string[] }> {
  const bus = await connectNatsBus({ servers: url, name: 'test-reader', log: pino({ level: 'silent' }) });
  const events: AnyFleetEvent[] = [];
  const malformed: string[] = [];
  try {
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const sub = await bus.follow(
      run,
      (e) => {
        events.push(e);
        if (e.type === 'run.finished') done();
      },
      { from: 'start', onMalformed: (subject, err) => malformed.push(`${subject}: ${err.message}`) },
    );
    const timer = setTimeout(done, timeoutMs);
    await finished;
    clearTimeout(timer);
    await sub.stop();
  } finally {
    await bus.close();
  }
  return { events, malformed };
}

/**
 * Each source's events in seq order with nothing lost: 1, 2, 3... A gap is
 * allowed only where a process published a fact again (`republished`: its
 * eval and best events for a version an earlier evaluator had already
 * stored, deduplicated by JetStream under the fact's id, docs/events.md).
 */
export function expectOrderedPerSource(events: readonly AnyFleetEvent[], republished = 0): void {
  const bySource = new Map<string, number[]>();
  for (const e of events) bySource.set(e.source, [...(bySource.get(e.source) ?? []), e.seq]);
  let gaps = 0;
  for (const [source, seqs] of bySource) {
    const where = `${source}: ${seqs.join(' ')}`;
    expect(seqs[0], where).toBeGreaterThanOrEqual(1);
    expect(
      seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!),
      where,
    ).toBe(true);
    const missing = seqs[seqs.length - 1]! - seqs.length;
    if (!source.startsWith('evaluator:')) expect(missing, where).toBe(0);
    gaps += missing;
  }
  expect(gaps).toBeLessThanOrEqual(republished);
}
