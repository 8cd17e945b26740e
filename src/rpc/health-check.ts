import { makeGenericClientConstructor, status as Status, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { FleetError } from '../runtime/errors.js';
import { CHANNEL_OPTIONS } from './channel-options.js';
import type { ClientChannel } from './security/client-channel.js';

/** What grpc.health.v1 Health/Check answers for a service the server knows. */
export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN';

/** Why a health check got no status: the reasons an exec probe's one line names. */
export type HealthFailure = 'tls' | 'refused' | 'timeout' | 'unknown-service' | 'unauthenticated' | 'unavailable' | 'other';

/** A health check that got no status; `failure` says why, the message says it in words. */
export class HealthCheckError extends FleetError {
  constructor(
    readonly failure: HealthFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface HealthCheckOptions {
  /** The service asked about: '' (default) the whole server, or e.g. 'fleet.v1.Coordinator'. */
  service: string;
  /** Deadline of the call, connection and TLS handshake included. */
  timeoutMs: number;
  /** Credentials and options (TLS, client certificate, token, server name) as a worker's. */
  channel: ClientChannel;
}

interface HealthClient {
  Check(
    request: { service: string },
    options: { deadline: number },
    callback: (err: ServiceError | null, response?: { status: string }) => void,
  ): void;
  close(): void;
}

const HealthClientConstructor = makeGenericClientConstructor(healthService as unknown as ServiceDefinition, 'grpc.health.v1.Health');

/**
 * One standard grpc.health.v1 Health/Check call to `address` (what
 * Kubernetes' gRPC probe does, but with TLS and a client certificate when the
 * channel has them). Resolves with the status; rejects with a
 * HealthCheckError naming why there is none (TLS, refused, timeout, ...).
 */
export async function checkHealth(address: string, o: HealthCheckOptions): Promise<ServingStatus> {
  const client = new HealthClientConstructor(address, o.channel.credentials, {
    ...CHANNEL_OPTIONS,
    ...o.channel.options,
  }) as unknown as HealthClient;
  try {
    const response = await new Promise<{ status: string }>((resolve, reject) => {
      client.Check({ service: o.service }, { deadline: Date.now() + o.timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res ?? { status: 'UNKNOWN' }),
      );
    });
    return response.status as ServingStatus;
  } catch (err) {
    throw explainHealthFailure(err, address, o);
  } finally {
    client.close();
  }
}

// OpenSSL's and Node's words for a handshake that failed either way: a certificate not trusted or not for
// this name, a TLS client at a plaintext server (wrong version number, packet length), or a server that
// wants a client certificate.
const TLS_WORDS =
  /certificate|self[- ]signed|SSL|TLS|handshake|wrong version number|packet length|altnames|issuer|alert|ERR_TLS|UNABLE_TO_VERIFY|DEPTH_ZERO/i;

/**
 * One line of grpc-js's or OpenSSL's text: "8093...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert
 * certificate required:../deps/...:SSL alert number 116" becomes "tlsv13 alert certificate required"; the
 * time stamps grpc-js appends go.
 */
function readable(text: string): string {
  const line = text
    .split('\n')[0]!
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '')
    .trim();
  return /SSL routines:[^:]*:([^:]+)/.exec(line)?.[1]?.trim() ?? line;
}

/** A failed Check as the one line a probe prints: what went wrong, in words, and which kind. */
export function explainHealthFailure(
  err: unknown,
  address: string,
  o: Pick<HealthCheckOptions, 'service' | 'timeoutMs'>,
): HealthCheckError {
  const e = err as Partial<ServiceError>;
  const details = String(e.details ?? (err as Error).message ?? err);
  // grpc-js wraps a connection failure: "No connection established. Last error: Error: <reason>. Resolution note: ..."
  const last = readable(/Last error: (?:\w*Error(?: \[\w+\])?: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(details)?.[1] ?? details);
  const seconds = `${o.timeoutMs / 1000}s`;
  const fail = (failure: HealthFailure, text: string) => new HealthCheckError(failure, `health of ${address}: ${text}`, { cause: err });
  switch (e.code) {
    case Status.NOT_FOUND:
      return fail('unknown-service', `unknown service ${JSON.stringify(o.service)} (the server serves grpc.health.v1 but not this name)`);
    case Status.UNIMPLEMENTED:
      return fail('other', 'the server does not implement grpc.health.v1 (not a fleet coordinator?)');
    case Status.UNAUTHENTICATED:
      return fail('unauthenticated', `UNAUTHENTICATED: ${last}`);
    case Status.DEADLINE_EXCEEDED:
      return fail(
        'timeout',
        `no answer within ${seconds} (${last}); a TLS server dialled without --tls, or a server too busy, looks like this too`,
      );
    case Status.UNAVAILABLE:
      if (/certificate required/.test(last))
        return fail('tls', `TLS handshake failed: ${last} (the server wants a client certificate: --tls-cert and --tls-key)`);
      if (TLS_WORDS.test(last)) return fail('tls', `TLS handshake failed: ${last}`);
      if (/ECONNREFUSED/.test(last)) return fail('refused', `connection refused (${last}): is the coordinator running on this port?`);
      if (/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(last))
        return fail('unavailable', `cannot resolve the host (${last})`);
      // A plaintext client at a TLS server: the server drops what is not a TLS handshake.
      if (/Failed to connect|Connection dropped|socket hang up|ECONNRESET|closed/i.test(last))
        return fail('unavailable', `connection failed (${last}): a TLS server dialled without --tls or --tls-ca?`);
      return fail('unavailable', `UNAVAILABLE: ${last}`);
    default:
      return fail('other', e.code !== undefined ? `${Status[e.code] ?? e.code}: ${last}` : last);
  }
}
