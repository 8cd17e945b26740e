import { connect, type NatsConnection } from '@nats-io/transport-node';
import { LIVENESS_BEAT_INTERVAL_MS, livenessSubject } from '../../src/events/index.js';
import { connectionOptions, NatsUnavailableError } from '../../src/events/nats-connection.js';
import type { NatsAuth } from '../../src/runtime/config/service-io.js';
import type { Logger } from '../../src/runtime/logger.js';

export interface LivenessBeat {
  stop(): Promise<void>;
}

/**
 * Publishes `{ run, source, time }` on the run's evaluator liveness subject
 * (core NATS, never stored) at once and then every `intervalMs`, on a
 * connection of its own: a coordinator waiting for the last score stops
 * waiting when these stop (the process died or hangs). A beat the server
 * refuses (permissions) is logged once: the coordinator then sees no evaluator.
 */
export async function startLivenessBeat(
  o: { natsUrl: string; auth?: NatsAuth; run: string; source: string; intervalMs?: number },
  log: Logger,
): Promise<LivenessBeat> {
  const subject = livenessSubject(o.run, 'evaluator');
  const nc: NatsConnection = await connect(
    connectionOptions({ servers: o.natsUrl, name: `${o.source}:alive`, ...(o.auth ? { auth: o.auth } : {}) }),
  ).catch((err: unknown) => {
    throw new NatsUnavailableError(o.natsUrl, `liveness beats: ${(err as Error).message}`, { cause: err });
  });
  let warned = false;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && !warned) {
        warned = true;
        log.warn({ subject, err: s.error.message }, 'evaluator liveness beat refused: a waiting coordinator will not see this evaluator');
      }
    }
  })().catch(() => {});
  const beat = () => nc.publish(subject, JSON.stringify({ run: o.run, source: o.source, time: new Date().toISOString() }));
  beat();
  const timer = setInterval(beat, o.intervalMs ?? LIVENESS_BEAT_INTERVAL_MS);
  log.info({ subject, intervalMs: o.intervalMs ?? LIVENESS_BEAT_INTERVAL_MS }, 'liveness beat started');
  return {
    stop: async () => {
      clearInterval(timer);
      await nc.close().catch(() => {});
    },
  };
}
