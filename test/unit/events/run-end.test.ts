import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus, type EventBus } from '../../../src/events/index.js';
import { captureLog } from '../../helpers/capture-log.js';
import { samplePayloads } from '../../fixtures/event-samples.js';

let bus: EventBus;
afterEach(async () => {
  await bus.close(1000);
});

const finished = (status: 'finished' | 'failed' | 'stopped', version: number) => ({
  status,
  version,
  epochs: 2,
  reason: status === 'stopped' ? 'signal SIGTERM' : null,
});

describe('EventBus.runEnd: how a run last ended (the memory bus; the NATS bus in test/integration/graceful-stop)', () => {
  it('is null for a run without events and while a run goes on; the newest run.finished once it ended; null again when a resume starts it', async () => {
    bus = createMemoryBus(captureLog().log);
    expect(await bus.runEnd('r1')).toBeNull();

    const first = bus.publisher('r1', 'coordinator:a');
    first.publish('run.started', samplePayloads['run.started']);
    await first.flush();
    expect(await bus.runEnd('r1')).toBeNull();

    first.publish('run.finished', finished('stopped', 7));
    await first.flush();
    expect(await bus.runEnd('r1')).toEqual(finished('stopped', 7));

    // The restarted coordinator resumes it: going on again, then finished.
    const second = bus.publisher('r1', 'coordinator:b');
    second.publish('run.started', { ...samplePayloads['run.started'], resumed: true, version: 7 });
    await second.flush();
    expect(await bus.runEnd('r1')).toBeNull();
    second.publish('run.finished', finished('finished', 12));
    await second.flush();
    expect(await bus.runEnd('r1')).toEqual(finished('finished', 12));

    // Another run's events do not count.
    const other = bus.publisher('r2', 'coordinator:c');
    other.publish('run.started', samplePayloads['run.started']);
    await other.flush();
    expect(await bus.runEnd('r1')).toEqual(finished('finished', 12));
    expect(await bus.runEnd('r2')).toBeNull();
  });
});
