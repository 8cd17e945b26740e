import { InterceptingCall, status as Status, type Interceptor } from '@grpc/grpc-js';
import { AUTHORIZATION_KEY, bearerValue } from './bearer-token.js';

/** What a client reads its token from when it can rotate: the current token, and a re-read of its file. */
export interface RotatingToken {
  readonly current: string;
  /** Reads the file now; true when it held a new token. */
  reload(): boolean;
}

/** What a call refused for an old token ends with once the file held a new one: UNAVAILABLE, which callers retry. */
export const TOKEN_ROTATED_DETAILS = 'refused with the previous token; the token file holds a new one: retry';

/**
 * Adds `authorization: Bearer <token>` to every call of a client. An
 * interceptor rather than call credentials: grpc-js sends call credentials
 * over TLS only, and a token must also work on a plaintext channel (a
 * private network, or TLS ended by a proxy). With a rotating token, a call
 * refused UNAUTHENTICATED re-reads the token file; when the token changed
 * the refusal becomes UNAVAILABLE, which the callers' retries already
 * handle, and the retry carries the new token.
 */
export function clientTokenInterceptor(token: string | RotatingToken): Interceptor {
  const fixed = typeof token === 'string' ? bearerValue(token) : null;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(AUTHORIZATION_KEY, fixed ?? bearerValue((token as RotatingToken).current));
        if (fixed !== null) {
          next(metadata, listener);
          return;
        }
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            if (status.code === Status.UNAUTHENTICATED && (token as RotatingToken).reload())
              nextStatus({ ...status, code: Status.UNAVAILABLE, details: TOKEN_ROTATED_DETAILS });
            else nextStatus(status);
          },
        });
      },
    });
}
