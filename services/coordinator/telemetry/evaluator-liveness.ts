import { connect, type NatsConnection } from '@nats-io/transport-node';
import { livenessSubject } from '../../../src/events/index.js';
import { connectionOptions, NatsUnavailableError } from '../../../src/events/nats-connection.js';
import type { NatsAuth } from '../../../src/runtime/config/service-io.js';
import type { Logger } from '../../../src/runtime/logger.js';

/** What the coordinator knows of its external evaluator's liveness beats (services/evaluator/liveness-beat.ts). */
export interface EvaluatorLiveness {
  /** Milliseconds since the last beat (with none yet, since the watch started or NATS came back); 0 while NATS is away. */
  silentForMs(): number;
  /** The last beat's source (evaluator:<instance>), or null when none came. */
  readonly lastSource: string | null;
  /** Why beats cannot be heard (the server refused the subscription), or null. */
  readonly refused: string | null;
  stop(): Promise<void>;
}

/**
 * Listens to the run's evaluator liveness subject from the coordinator's
 * start on, on a connection of its own (core NATS: beats are not stored, so
 * only beats heard while listening count).
 */
export async function watchEvaluatorLiveness(
  o: { natsUrl: string; auth?: NatsAuth; run: string },
  log: Logger,
): Promise<EvaluatorLiveness> {
  const subject = livenessSubject(o.run, 'evaluator');
  const nc: NatsConnection = await connect(
    connectionOptions({ servers: o.natsUrl, name: `coordinator:${o.run}:evaluator-liveness`, ...(o.auth ? { auth: o.auth } : {}) }),
  ).catch((err: unknown) => {
    throw new NatsUnavailableError(o.natsUrl, `liveness beats: ${(err as Error).message}`, { cause: err });
  });
  let last = Date.now();
  let lastSource: string | null = null;
  let refused: string | null = null;
  // No beat can be heard while NATS is away: that silence says nothing of the evaluator, and counts again from the reconnect.
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') {
        connected = true;
        last = Date.now();
      }
    }
  })().catch(() => {});
  const sub = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      last = Date.now();
      try {
        const source = (msg.json() as { source?: unknown }).source;
        if (typeof source === 'string' && source !== lastSource) {
          if (lastSource === null) log.info({ source, subject }, 'evaluator alive');
          lastSource = source;
        }
      } catch {
        // A beat is a beat whatever its body: only its arrival counts.
      }
    },
  });
  void sub.closed.then((end) => {
    if (end instanceof Error) {
      refused = end.message;
      log.warn(
        { subject, err: end.message },
        "cannot listen to the evaluator's liveness beats: the end of the run waits --evaluator-wait for its score whatever happened to it",
      );
    }
  });
  // The subscription is on the server once this returns: no beat is missed from here on.
  await nc.flush();
  return {
    silentForMs: () => (connected ? Date.now() - last : 0),
    get lastSource() {
      return lastSource;
    },
    get refused() {
      return refused;
    },
    stop: async () => {
      await nc.close().catch(() => {});
    },
  };
}
