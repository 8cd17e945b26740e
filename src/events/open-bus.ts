import type { Logger } from '../runtime/logger.js';
import type { EventBus } from './event-bus.js';
import { createMemoryBus } from './memory-bus.js';
import { connectNatsBus, type NatsBusOptions } from './nats-bus.js';

/**
 * The run's bus: NATS JetStream when a URL is given (an unreachable server
 * fails here, at start, with the URL named), else this process's memory, with
 * a warning: nobody else sees the events then (no evaluator, no fleet watch).
 */
export async function openEventBus(options: {
  natsUrl: string | null;
  auth?: NatsBusOptions['auth'];
  name: string;
  log: Logger;
  ackWaitMs?: number;
}): Promise<EventBus> {
  if (options.natsUrl) {
    const bus = await connectNatsBus({
      servers: options.natsUrl,
      name: options.name,
      log: options.log,
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.ackWaitMs !== undefined ? { ackWaitMs: options.ackWaitMs } : {}),
    });
    options.log.info({ nats: options.natsUrl }, 'events go to NATS JetStream');
    return bus;
  }
  options.log.warn(
    'no NATS (--nats or NATS_URL): events stay in this process; fleet watch and the evaluator service cannot follow this run',
  );
  return createMemoryBus(options.log);
}
