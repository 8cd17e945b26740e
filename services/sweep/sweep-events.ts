import { randomBytes } from 'node:crypto';
import { connectNatsBus, type EventBus, type EventPayloads, type EventPublisher, type EventType } from '../../src/events/index.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { ServiceIo } from '../../src/runtime/config/service-io.js';

/**
 * The sweep's events on NATS (--nats), under the sweep id as their run:
 * sweep.started, trial.started, trial.epoch, trial.finished, trial.pruned,
 * sweep.finished. Without --nats nothing is published (the state is in
 * SWEEP_DIR/sweep.json either way). Publishing only queues: the sweep never
 * waits for NATS until its end, when what is queued is flushed.
 */
export interface SweepEvents {
  publish<T extends EventType>(type: T, data: EventPayloads[T]): void;
  close(): Promise<void>;
}

export async function openSweepEvents(o: { io: ServiceIo; sweepId: string; log: Logger }): Promise<SweepEvents> {
  if (o.io.natsUrl === null) return { publish: () => {}, close: async () => {} };
  const bus: EventBus = await connectNatsBus({
    servers: o.io.natsUrl,
    name: `sweep-${o.sweepId}`,
    log: o.log,
    ...(o.io.natsAuth ? { auth: o.io.natsAuth } : {}),
  });
  o.log.info({ nats: o.io.natsUrl, sweep: o.sweepId }, 'sweep events go to NATS JetStream');
  // A new instance each process: a resumed driver's events are not taken for duplicates of its predecessor's.
  const publisher: EventPublisher = bus.publisher(o.sweepId, `sweep:${randomBytes(3).toString('hex')}`);
  return {
    publish: (type, data) => publisher.publish(type, data),
    close: async () => {
      await publisher.flush().catch((err: unknown) => o.log.warn({ err }, 'sweep events: not all were stored before the end'));
      await bus.close();
    },
  };
}
