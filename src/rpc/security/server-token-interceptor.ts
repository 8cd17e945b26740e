import { Metadata, ServerInterceptingCall, status as Status, type ServerInterceptor } from '@grpc/grpc-js';
import { AUTHORIZATION_KEY, bearerMatches, UNAUTHENTICATED_DETAILS } from './bearer-token.js';

/**
 * The standard health service: Kubernetes' native gRPC probes carry no
 * token, so its methods (Check, Watch, List) stay open. They reveal only
 * SERVING / NOT_SERVING.
 */
export const HEALTH_SERVICE_PREFIX = '/grpc.health.v1.Health/';

/** A call refused for its token, for logs and a counter (never contains the token). */
export interface RefusedCall {
  /** The full method path, e.g. /fleet.v1.Coordinator/Register. */
  method: string;
  peer: string;
  reason: 'missing' | 'invalid';
}

/** What a server accepts when its token can rotate (TokenFileWatch: the current token, and the previous one for a while). */
export interface AcceptedTokens {
  accepts(authorization: string | undefined): boolean;
}

export interface ServerTokenOptions {
  /** Called once per refused call, after the refusal was sent. */
  onRefused?: (call: RefusedCall) => void;
}

/**
 * Checks every call's `authorization` metadata against `token` (or the
 * tokens a rotation accepts) when the
 * call's headers arrive, before grpc-js hands the call to its handler: a
 * refused call is answered UNAUTHENTICATED and never reaches the service,
 * so it changes nothing. Health methods are exempt.
 */
export function serverTokenInterceptor(token: string | AcceptedTokens, options: ServerTokenOptions = {}): ServerInterceptor {
  const accepts =
    typeof token === 'string'
      ? (value: string | undefined) => bearerMatches(token, value)
      : (value: string | undefined) => token.accepts(value);
  return (method, call) => {
    if (method.path.startsWith(HEALTH_SERVICE_PREFIX)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata: Metadata, nextMetadata: (m: Metadata) => void) {
            const values = metadata.get(AUTHORIZATION_KEY);
            const value = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
            if (accepts(value)) {
              nextMetadata(metadata);
              return;
            }
            // Not passing the metadata on: the handler is never started.
            call.sendStatus({ code: Status.UNAUTHENTICATED, details: UNAUTHENTICATED_DETAILS, metadata: new Metadata() });
            options.onRefused?.({ method: method.path, peer: call.getPeer(), reason: values.length === 0 ? 'missing' : 'invalid' });
          },
        });
      },
    });
  };
}
