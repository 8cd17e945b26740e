import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { connectionOptions } from '../../src/events/nats-connection.js';
import type { NatsAuth } from '../../src/runtime/config/service-io.js';

/** A JetStream publish of `{}` on `subject` as the user `auth`: 'ok', or the server's refusal (a permissions violation...). */
export async function publishAs(url: string, auth: NatsAuth, subject: string): Promise<'ok' | string> {
  const nc = await connect(connectionOptions({ servers: url, name: 'test', auth, connectTimeoutMs: 5000 }));
  try {
    await jetstream(nc, { timeout: 3000 }).publish(subject, '{}');
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await nc.close();
  }
}

/**
 * A core NATS publish (no stream: liveness beats) as the user `auth`: 'ok', or the server's refusal. The server
 * answers a refused publish asynchronously: the flush's round trip, then a short wait, lets it arrive.
 */
export async function corePublishAs(url: string, auth: NatsAuth, subject: string): Promise<'ok' | string> {
  const nc = await connect(connectionOptions({ servers: url, name: 'test', auth, connectTimeoutMs: 5000 }));
  let refusal: string | null = null;
  const watching = (async () => {
    for await (const s of nc.status()) if (s.type === 'error') refusal = s.error.message;
  })();
  try {
    nc.publish(subject, '{}');
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 300));
    return refusal ?? 'ok';
  } finally {
    await nc.close();
    await watching;
  }
}
